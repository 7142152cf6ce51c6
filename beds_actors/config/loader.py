"""Load the layered TOML config, apply env-var overrides, validate once, report every problem."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from beds_actors.config.models import BedsConfig

ENV_PREFIX = "BEDS__"
DEFAULT_ENV = "dev"

# dotted key path -> where its value came from (a file path or an env var name)
Provenance = dict[str, str]


class ConfigError(Exception):
    """The configuration cannot be used; the message lists every problem found."""


def load(environ: Mapping[str, str] | None = None) -> BedsConfig:
    """Load `$BEDS_CONFIG` (default `$BEDS_CONFIG_DIR/beds.toml`, `./config/beds.toml`)."""
    environ = os.environ if environ is None else environ
    base = (
        environ.get("BEDS_CONFIG") or Path(environ.get("BEDS_CONFIG_DIR", "config")) / "beds.toml"
    )
    return load_from(base, environ=environ)


def load_from(
    path: str | Path,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> BedsConfig:
    """Load the base file at `path`, its sibling `env_<env>.toml` if present, then env vars."""
    environ = os.environ if environ is None else environ
    base_path = Path(path).resolve()
    env = env or environ.get("BEDS_ENV") or DEFAULT_ENV
    if not base_path.is_file():
        raise ConfigError(
            f"config file not found: {base_path} — set BEDS_CONFIG_DIR to the folder "
            "holding beds.toml, or run from the project root"
        )
    provenance: Provenance = {}
    merged: dict[str, Any] = {}
    _merge(merged, _read_toml(base_path), provenance, str(base_path), "")
    env_path = base_path.with_name(f"env_{env}.toml")
    if env_path.is_file():
        _merge(merged, _read_toml(env_path), provenance, str(env_path), "")
    _apply_env_vars(merged, environ, provenance)
    merged["env"] = env
    provenance["env"] = "BEDS_ENV"
    _resolve_dirs(merged, base_path.parent)
    try:
        return BedsConfig.model_validate(merged)
    except ValidationError as exc:
        sources = [str(base_path)] + ([str(env_path)] if env_path.is_file() else [])
        raise ConfigError(_format_errors(exc, provenance, sources)) from None


def _resolve_dirs(merged: dict[str, Any], base_dir: Path) -> None:
    """Relative folder keys are relative to the base config file's folder."""
    if isinstance(merged.get("templates_dir", "templates"), str):
        merged["templates_dir"] = str(
            (base_dir / merged.get("templates_dir", "templates")).resolve()
        )
    for store in (merged.get("stores") or {}).values():
        if (
            isinstance(store, dict)
            and isinstance(store.get("schema_dir"), str)
            and store["schema_dir"]
        ):
            store["schema_dir"] = str((base_dir / store["schema_dir"]).resolve())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _merge(
    into: dict[str, Any], layer: Mapping[str, Any], prov: Provenance, source: str, prefix: str
) -> None:
    """Deep-merge `layer` into `into`: tables merge key by key, anything else replaces."""
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, prov, source, f"{dotted}.")
        else:
            into[key] = _plain(value)
            _record(value, prov, source, dotted)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _record(value: Any, prov: Provenance, source: str, dotted: str) -> None:
    prov[dotted] = source
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _record(inner, prov, source, f"{dotted}.{key}")


def _apply_env_vars(merged: dict[str, Any], environ: Mapping[str, str], prov: Provenance) -> None:
    """`BEDS__AMQP__HOST=x` sets `amqp.host`; segments match existing keys case-insensitively."""
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        segments = [s for s in name[len(ENV_PREFIX) :].split("__") if s]
        if not segments:
            continue
        table = merged
        path: list[str] = []
        for segment in segments[:-1]:
            key = _match_key(table, segment)
            table = table.setdefault(key, {})
            path.append(key)
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{name}: {'.'.join(path)} is not a table, cannot set a key in it"
                )
        key = _match_key(table, segments[-1])
        table[key] = _parse_scalar(environ[name])
        prov[".".join([*path, key])] = f"env var {name}"


def _match_key(table: Mapping[str, Any], segment: str) -> str:
    for key in table:
        if key.lower() == segment.lower():
            return key
    return segment.lower()


def _parse_scalar(raw: str) -> Any:
    """Keep env values as text (validation converts `5673` or `true` where the key needs it),
    except arrays and inline tables like `["fetch"]`, which are read as TOML."""
    if raw.lstrip().startswith(("[", "{")):
        try:
            return tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            return raw
    return raw


def _format_errors(exc: ValidationError, prov: Provenance, sources: list[str]) -> str:
    lines = [f"invalid configuration ({exc.error_count()} problem(s)):"]
    for err in exc.errors():
        dotted = ".".join(str(part) for part in err["loc"]) or "(top level)"
        where = _source_of(dotted, prov) or f"not set in {' or '.join(sources)}"
        detail = err["msg"]
        if err["type"] == "extra_forbidden":
            detail = "unknown key (typo? see config/beds.toml for the valid keys)"
        elif err["type"] != "missing" and "input" in err:
            detail = f"{detail} (got {err['input']!r})"
        lines.append(f"  - {dotted}: {detail}  [{where}]")
    return "\n".join(lines)


def _source_of(dotted: str, prov: Provenance) -> str | None:
    parts = dotted.split(".")
    while parts:
        found = prov.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return None
