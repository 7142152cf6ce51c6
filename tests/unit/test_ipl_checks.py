"""The IPL registry step's cross-checks of config against templates (no services needed)."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner, Result

from beds_actors.adapters import factory
from beds_actors.adapters.base import Adapter
from beds_actors.adapters.mongodb import MongoDbAdapter
from beds_actors.config import BedsConfig, ConfigError, StoreConfig
from beds_actors.registry import Registry, load_registry
from beds_actors.registry.checks import check_against_config
from tests.conftest import TEST_CONFIG, load_test_config

UBROKER = "BEDS__ROLES__TERCERO__BROKERS__UBROKER__TEMPLATES"


def registry_of(cfg: BedsConfig) -> Registry:
    """The config's templates, loaded as the IPL's registry step does."""
    return load_registry(cfg.templates_dir, cfg.stores)


def known(cfg: BedsConfig) -> str:
    """How the message lists the loaded templates (fixtures may grow: not hard-coded here)."""
    names = registry_of(cfg).names()
    assert {"customer", "ghost", "slowpoke"} <= set(names)
    return ", ".join(names)


def problems_of(cfg: BedsConfig, registry: Registry | None = None) -> str:
    """The message check_against_config raises for this config."""
    with pytest.raises(ConfigError) as raised:
        check_against_config(cfg, registry or registry_of(cfg))
    return str(raised.value)


def test_the_test_config_fits_its_templates() -> None:
    cfg = load_test_config()
    check_against_config(cfg, registry_of(cfg))  # no error


def test_a_broker_naming_an_unknown_template_fails_naming_key_name_and_known_templates() -> None:
    cfg = load_test_config(**{UBROKER: '["customer", "custmer"]'})

    assert problems_of(cfg) == (
        "config and templates do not fit (1 problem(s)):\n"
        "  - roles.tercero.brokers.uBroker.templates names unknown template(s) 'custmer'; "
        f"known templates: {known(cfg)} (from {cfg.templates_dir}); "
        "fix the name or add the template"
    )


def test_brokers_of_roles_this_node_does_not_run_are_checked_too() -> None:
    cfg = load_test_config(
        BEDS__NODE__ROLES='["appServer"]',
        BEDS__ROLES__ADMIN__BROKERS__ADMINBROKERIN__TEMPLATES='["nope"]',
    )

    assert cfg.node.roles == ["appServer"]
    assert "roles.admin.brokers.adminBrokerIn.templates names unknown template(s) 'nope'" in (
        problems_of(cfg)
    )


def test_an_empty_or_absent_templates_list_is_fine() -> None:
    cfg = load_test_config(**{UBROKER: "[]"})
    assert cfg.roles["tercero"].brokers["uBroker"].templates == []
    assert cfg.roles["appServer"].brokers["rBroker"].templates is None
    check_against_config(cfg, registry_of(cfg))  # no error


def without_mongodb_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the factory what a release without a MongoDB adapter had: kind mongodb unsupported."""
    monkeypatch.delitem(factory._BUILDERS, "mongodb")


def test_a_template_on_a_mongodb_store_is_accepted() -> None:
    cfg = load_test_config(BEDS__STORES__GHOST__KIND="mongodb")
    registry = registry_of(cfg)

    assert cfg.stores["ghost"].kind == "mongodb" and "ghost" in registry.by_store()["ghost"]
    check_against_config(cfg, registry)  # no error


def test_a_template_on_a_store_kind_without_adapter_fails_naming_store_kind_and_templates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_mongodb_adapter(monkeypatch)
    cfg = load_test_config(BEDS__STORES__GHOST__KIND="mongodb")

    assert problems_of(cfg) == (
        "config and templates do not fit (1 problem(s)):\n"
        "  - stores.ghost.kind = 'mongodb' has no adapter in this release (supported kinds: "
        "mariadb), but template(s) ghost use store 'ghost'; point them at a store of a "
        "supported kind or remove them"
    )


def test_a_store_of_a_kind_without_adapter_that_no_template_uses_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_mongodb_adapter(monkeypatch)
    cfg = load_test_config(BEDS__STORES__GHOST__KIND="mongodb")
    registry = registry_of(cfg)
    without_ghost = Registry(
        templates={n: t for n, t in registry.templates.items() if t.store != "ghost"}
    )
    check_against_config(cfg, without_ghost)  # no error


def test_every_problem_is_reported_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    without_mongodb_adapter(monkeypatch)
    cfg = load_test_config(
        BEDS__STORES__MAIN__KIND="mongodb", **{UBROKER: '["customer", "x", "y"]'}
    )

    message = problems_of(cfg)
    on_main = ", ".join(sorted(registry_of(cfg).by_store()["main"]))

    assert message.startswith("config and templates do not fit (2 problem(s)):\n")
    assert "uBroker.templates names unknown template(s) 'x', 'y';" in message
    assert (
        "stores.main.kind = 'mongodb' has no adapter in this release (supported kinds: mariadb), "
        f"but template(s) {on_main} use store 'main'; point them at a store"
    ) in message


def test_the_factory_is_the_single_source_of_supported_kinds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = load_test_config(BEDS__STORES__GHOST__KIND="mongodb")
    assert factory.supports("mariadb") and factory.supports("mongodb")
    assert factory.supported_kinds() == ["mariadb", "mongodb"]
    adapter = factory.build_adapter("ghost", cfg.stores["ghost"])
    assert isinstance(adapter, MongoDbAdapter)
    assert (adapter.store_name, adapter.cfg) == ("ghost", cfg.stores["ghost"])

    without_mongodb_adapter(monkeypatch)

    assert not factory.supports("mongodb") and factory.supported_kinds() == ["mariadb"]
    with pytest.raises(NotImplementedError, match=r"stores\.ghost\.kind = 'mongodb'"):
        factory.build_adapter("ghost", cfg.stores["ghost"])


def test_the_check_follows_the_factory_without_being_touched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = load_test_config(BEDS__STORES__GHOST__KIND="mongodb")
    registry = registry_of(cfg)
    without_mongodb_adapter(monkeypatch)
    problems_of(cfg, registry)  # refused without the adapter

    def mongodb(store_name: str, store: StoreConfig) -> Adapter:
        raise AssertionError("the check must not build adapters")

    monkeypatch.setitem(factory._BUILDERS, "mongodb", mongodb)

    assert factory.supports("mongodb")
    check_against_config(cfg, registry)  # no error, without touching the check


def config_check(monkeypatch: pytest.MonkeyPatch, **env: str) -> Result:
    """`beds config check` on the test config, with only the given BEDS__ overrides."""
    from beds_actors.cli.main import app

    for name in list(os.environ):
        if name.startswith("BEDS"):  # the caller's own settings must not leak in
            monkeypatch.delenv(name)
    for name, value in {"BEDS_CONFIG": str(TEST_CONFIG), "BEDS_ENV": "dev", **env}.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(app, ["config", "check"])


def test_config_check_command_fails_with_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    result = config_check(monkeypatch, **{UBROKER: '["custmer"]'})

    assert result.exit_code == 2
    assert "roles.tercero.brokers.uBroker.templates names unknown template(s) 'custmer'" in (
        result.output
    )


def test_config_check_command_passes_on_the_test_config(monkeypatch: pytest.MonkeyPatch) -> None:
    result = config_check(monkeypatch)

    assert result.exit_code == 0, result.output
    assert f"templates: {known(load_test_config())}\n" in result.output
