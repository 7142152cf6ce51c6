"""Cross-checks of the loaded templates against the config, run by the IPL and `config check`."""

from __future__ import annotations

from beds_actors.adapters.factory import supported_kinds, supports
from beds_actors.config import BedsConfig, ConfigError
from beds_actors.registry.snapshot import Registry


def check_against_config(cfg: BedsConfig, registry: Registry) -> None:
    """Raise ConfigError listing every template or store the config asks for but cannot serve."""
    problems = [*unknown_broker_templates(cfg, registry), *unsupported_stores(cfg, registry)]
    if problems:
        raise ConfigError(
            f"config and templates do not fit ({len(problems)} problem(s)):\n  - "
            + "\n  - ".join(problems)
        )


def unknown_broker_templates(cfg: BedsConfig, registry: Registry) -> list[str]:
    """One problem per broker whose `templates` list names a template that is not loaded."""
    known = ", ".join(registry.names()) or "none"
    problems = []
    # Every configured role, not just this node's: nodes share the config, a typo is a typo.
    for role, role_cfg in cfg.roles.items():
        for broker, broker_cfg in role_cfg.brokers.items():
            unknown = [name for name in broker_cfg.templates or [] if registry.get(name) is None]
            if unknown:
                problems.append(
                    f"roles.{role}.brokers.{broker}.templates names unknown template(s) "
                    f"{', '.join(map(repr, unknown))}; known templates: {known} "
                    f"(from {cfg.templates_dir}); fix the name or add the template"
                )
    return problems


def unsupported_stores(cfg: BedsConfig, registry: Registry) -> list[str]:
    """One problem per store that templates use but whose `kind` has no adapter yet."""
    problems = []
    for store, templates in sorted(registry.by_store().items()):
        store_cfg = cfg.stores.get(store)
        if store_cfg is None:
            continue  # load_registry already reports a template naming an unconfigured store
        if not supports(store_cfg.kind):
            problems.append(
                f"stores.{store}.kind = {store_cfg.kind!r} has no adapter in this release "
                f"(supported kinds: {', '.join(supported_kinds())}), but template(s) "
                f"{', '.join(sorted(templates))} use store {store!r}; point them at a store "
                "of a supported kind or remove them"
            )
    return problems
