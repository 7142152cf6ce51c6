"""Layered config: base file + env file + BEDS__ env vars, validated once with provenance."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from beds_actors.config import BedsConfig, ConfigError, load, load_from

BASE = """
    templates_dir = "tpl"

    [node]
    roles = ["appServer"]

    [amqp]
    host = "base-host"
    port = 5672
    user = "base-user"

    [stores.main]
    kind = "mariadb"
    schema_dir = "sql"

    [stores.main.master]
    user = "beds"
    database = "beds"

    [roles.appServer.brokers.rBroker]
    instances = 1
    ops = ["fetch"]
"""


def dig(cfg: BedsConfig, dotted: str) -> Any:
    """The value at a dotted path of the validated config."""
    value: Any = cfg.model_dump()
    for key in dotted.split("."):
        value = value[key]
    return value


def problem_line(message: str, dotted: str) -> str:
    """The one line of a ConfigError message that reports `dotted`."""
    lines = [line for line in message.splitlines() if line.startswith(f"  - {dotted}:")]
    assert len(lines) == 1, message
    return lines[0]


def test_env_file_overrides_only_the_keys_it_sets(write_config):
    base = write_config(BASE, dev='[amqp]\nhost = "env-host"\n')
    cfg = load_from(base, environ={})
    assert (cfg.amqp.host, cfg.amqp.port, cfg.amqp.user) == ("env-host", 5672, "base-user")


def test_nested_tables_merge_key_by_key(write_config):
    base = write_config(BASE, dev='[stores.main.master]\npassword = "pw"\n')
    store = load_from(base, environ={}).stores["main"]
    assert (store.kind, store.master.user, store.master.password) == ("mariadb", "beds", "pw")


@pytest.mark.parametrize("env", ["dev", "qa", "prod"])
def test_beds_env_selects_its_env_file(write_config, env):
    base = write_config(BASE, dev='[amqp]\nhost = "dev-host"\n', qa='[amqp]\nhost = "qa-host"\n')
    cfg = load_from(base, environ={"BEDS_ENV": env})
    expected = {"dev": "dev-host", "qa": "qa-host", "prod": "base-host"}[env]
    assert (cfg.env, cfg.amqp.host) == (env, expected)


def test_unknown_env_name_is_rejected_naming_beds_env(write_config):
    with pytest.raises(ConfigError) as info:
        load_from(write_config(BASE), environ={"BEDS_ENV": "staging"})
    assert "BEDS_ENV" in problem_line(str(info.value), "env")


@pytest.mark.parametrize(
    ("var", "raw", "dotted", "expected"),
    [
        ("BEDS__AMQP__PORT", "5673", "amqp.port", 5673),
        ("BEDS__AMQP__HOST", "10.0.0.5", "amqp.host", "10.0.0.5"),
        ("BEDS__RAY__INCLUDE_DASHBOARD", "true", "ray.include_dashboard", True),
        (
            "BEDS__ROLES__APPSERVER__BROKERS__RBROKER__OPS",
            '["fetch", "create"]',
            "roles.appServer.brokers.rBroker.ops",
            ["fetch", "create"],
        ),
        (
            "BEDS__ROLES__APPSERVER__BROKERS__RBROKER__INSTANCES",
            "3",
            "roles.appServer.brokers.rBroker.instances",
            3,
        ),
    ],
)
def test_env_var_overrides_one_typed_key(write_config, var, raw, dotted, expected):
    cfg = load_from(write_config(BASE), environ={var: raw})
    assert dig(cfg, dotted) == expected


def test_env_var_segments_match_existing_keys_case_insensitively(write_config):
    var = "BEDS__ROLES__APPSERVER__BROKERS__RBROKER__INSTANCES"
    cfg = load_from(write_config(BASE), environ={var: "3"})
    assert list(cfg.roles) == ["appServer"]
    assert list(cfg.roles["appServer"].brokers) == ["rBroker"]


def test_env_var_beats_env_file(write_config):
    base = write_config(BASE, dev="[amqp]\nport = 5674\n")
    assert load_from(base, environ={"BEDS__AMQP__PORT": "5673"}).amqp.port == 5673


def test_load_reads_beds_config_dir_and_beds_env(write_config, tmp_path):
    write_config(BASE, qa='[node]\nname = "from-qa"\n')
    cfg = load(environ={"BEDS_CONFIG_DIR": str(tmp_path), "BEDS_ENV": "qa"})
    assert (cfg.env, cfg.node.name) == ("qa", "from-qa")


def test_all_problems_in_one_error_with_their_sources(write_config):
    base = write_config(BASE.replace('user = "beds"\n', ""), dev="[amqp]\nprot = 5673\n")
    with pytest.raises(ConfigError) as info:
        load_from(base, environ={"BEDS__AMQP__PORT": "not-a-port"})
    message = str(info.value)
    assert "3 problem(s)" in message
    assert "unknown key" in problem_line(message, "amqp.prot")
    assert str(base.with_name("env_dev.toml")) in problem_line(message, "amqp.prot")
    assert "env var BEDS__AMQP__PORT" in problem_line(message, "amqp.port")
    assert str(base) in problem_line(message, "stores.main.master.user")


def test_unknown_key_from_env_var_names_the_variable(write_config):
    with pytest.raises(ConfigError) as info:
        load_from(write_config(BASE), environ={"BEDS__AMQP__HOTS": "x"})
    assert "env var BEDS__AMQP__HOTS" in problem_line(str(info.value), "amqp.hots")


def test_missing_config_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "beds.toml"
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_from(missing, environ={})
    assert str(missing) in str(info.value)


@pytest.mark.parametrize("broken", ["base", "env"])
def test_toml_syntax_error_names_the_file(write_config, broken):
    bad = "[amqp\nport = 1\n"
    base = write_config(bad if broken == "base" else BASE, dev=bad if broken == "env" else "")
    culprit = base if broken == "base" else base.with_name("env_dev.toml")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_from(base, environ={})
    assert str(culprit) in str(info.value)


def test_role_without_roles_table_fails(write_config):
    base = write_config(BASE.replace('roles = ["appServer"]', 'roles = ["admin"]'))
    with pytest.raises(ConfigError, match=r"\['admin'\] without a \[roles.<role>\] table"):
        load_from(base, environ={})


def test_relative_dirs_resolve_against_the_base_files_folder(write_config, tmp_path, monkeypatch):
    base = write_config(BASE)
    monkeypatch.chdir(tmp_path.parent)
    cfg = load_from(base, environ={})
    assert cfg.templates_dir == str(tmp_path / "tpl")
    assert cfg.stores["main"].schema_dir == str(tmp_path / "sql")


def test_absolute_dirs_are_kept(write_config, tmp_path):
    elsewhere = tmp_path / "abs" / "templates"
    base = write_config(BASE.replace('"tpl"', f'"{elsewhere.as_posix()}"'))
    assert load_from(base, environ={}).templates_dir == str(elsewhere)


def test_shipped_beds_toml_validates_on_its_own(repo_root, tmp_path):
    base = Path(shutil.copy(repo_root / "config" / "beds.toml", tmp_path / "beds.toml"))
    cfg = load_from(base, environ={})
    assert cfg.node.roles == ["appServer", "admin", "segundo", "tercero"]
    assert set(cfg.role.brokers) == {"rBroker", "wBroker", "mBroker"}
    assert {b for _, b, _ in cfg.brokers()} >= {"adminLogsBroker", "whBroker", "sBroker"}
    assert cfg.stores["main"].kind == "mariadb"


def test_numeric_password_from_env_var_stays_a_string(write_config):
    cfg = load_from(write_config(BASE), environ={"BEDS__STORES__MAIN__MASTER__PASSWORD": "123456"})
    assert cfg.stores["main"].master.password == "123456"
