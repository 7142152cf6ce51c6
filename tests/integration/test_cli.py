"""`beds` and `beds-submit` as an operator types them: real subprocesses, real services.

Commands that need no running BEDS (config check, schema apply, admin-hash-token, argument
errors, unreachable services) and `beds call` against a BEDS of this module's own. The admin
commands (status, scale, swap, dlq, admin auth) are in test_admin_cli.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiomysql
import orjson
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from beds_actors.config import DbEndpoint, load_from
from beds_actors.ipl import System
from beds_actors.testing import isolated_overrides
from tests.conftest import FIXTURES, TEST_CONFIG, isolated_config, running_beds

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
BEDS = str(BIN / "beds")
BEDS_SUBMIT = str(BIN / "beds-submit")


def cli_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """A `beds` subprocess environment: the test config, dev, and `overrides` (BEDS__... and
    BEDS_...); none of the caller's own BEDS variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDS")}
    env.update({"BEDS_CONFIG": str(TEST_CONFIG), "BEDS_ENV": "dev", "PYTHONIOENCODING": "utf-8"})
    env.update(overrides)
    return env


def run(
    argv: list[str], overrides: Mapping[str, str], timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run a command to the end (`timeout_s` only catches hangs)."""
    return subprocess.run(
        argv,
        env=cli_env(overrides),
        capture_output=True,
        encoding="utf-8",
        timeout=timeout_s,
        check=False,
    )


async def beds(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`beds ARGS...` in a subprocess, without blocking the event loop the systems run on."""
    return await asyncio.to_thread(run, [BEDS, *args], env)


def closed_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def err_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.rstrip() for line in done.stderr.splitlines() if line.strip()]


# --- beds call ------------------------------------------------------------------------------

CALL_TAG = "cli_call"
CALL_ENV = isolated_overrides(CALL_TAG)


@pytest.fixture(scope="module")
async def call_system(local_ray: None) -> AsyncIterator[System]:
    async with running_beds(
        isolated_config(CALL_TAG, BEDS__NODE__NAME=f"cli-call-{uuid.uuid4().hex[:8]}")
    ) as system:
        yield system


async def test_call_prints_an_ok_reply_and_exits_0(call_system: System) -> None:
    name = f"cli-{uuid.uuid4().hex}"
    created = await beds(
        "call", "customer", "create", "--data", f'{{"name": "{name}"}}', env=CALL_ENV
    )
    assert created.returncode == 0, created.stderr
    reply = orjson.loads(created.stdout)
    assert reply["status"] == "ok"
    record = reply["data"]
    assert (record["name"], record["email"]) == (name, None)
    assert len(record["guid"]) == 32

    fetched = await beds(
        "call", "customer", "fetch", "--query", f'{{"guid": "{record["guid"]}"}}', env=CALL_ENV
    )
    assert fetched.returncode == 0, fetched.stderr
    assert orjson.loads(fetched.stdout)["data"] == [record]


async def test_call_prints_an_error_reply_and_exits_1(call_system: System) -> None:
    done = await beds("call", "customer", "create", "--data", "{}", env=CALL_ENV)
    assert done.returncode == 1, done.stderr
    reply = orjson.loads(done.stdout)
    assert reply["status"] == "error"
    assert reply["error"] == {
        "code": "validation_failed",
        "message": "template 'customer': data.name: required",
    }


async def test_call_to_a_broker_nobody_declared_exits_2(call_system: System) -> None:
    done = await beds(
        "call", "customer", "fetch", "--broker", "noSuchBroker", "--timeout", "20", env=CALL_ENV
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert (
        f"no queue is bound to routing key 'appServer.noSuchBroker' on exchange 'beds_{CALL_TAG}'"
        " — is BEDS running with that broker?"
    ) in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{name: Ada}"], "--data: not valid JSON ("),
        (["--data", '["Ada"]'], '--data: must be a JSON object, like \'{"name": "Ada"}\''),
        (["--query", '"Ada"'], '--query: must be a JSON object, like \'{"name": "Ada"}\''),
    ],
    ids=["data-not-json", "data-not-an-object", "query-not-an-object"],
)
def test_call_with_bad_json_exits_2_before_sending(args: list[str], message: str) -> None:
    # Nothing listens on the AMQP port: a command that tried to send would fail differently.
    overrides = {**CALL_ENV, "BEDS__AMQP__PORT": str(closed_port())}
    done = run([BEDS, "call", "customer", "create", *args], overrides)
    assert done.returncode == 2
    assert done.stdout == ""
    assert err_lines(done)[0].startswith(message), done.stderr
    assert "RabbitMQ" not in done.stderr


def test_call_with_a_missing_argument_exits_2() -> None:
    done = run([BEDS, "call", "customer"], CALL_ENV)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Missing argument 'op'." in done.stderr


def test_call_when_rabbitmq_is_unreachable_exits_2_naming_it() -> None:
    port = closed_port()
    done = run(
        [BEDS, "call", "customer", "fetch", "--timeout", "20"],
        {**CALL_ENV, "BEDS__AMQP__PORT": str(port)},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"cannot reach RabbitMQ at 127.0.0.1:{port}: " in done.stderr
    assert "Connect call failed" in done.stderr


def test_an_admin_command_with_no_node_listening_exits_2_saying_so() -> None:
    exchange = f"beds_cli_nobody_{uuid.uuid4().hex[:8]}"  # no BEDS ever declared it
    done = run([BEDS, "status"], {"BEDS__AMQP__EXCHANGE": exchange}, timeout_s=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert err_lines(done)[0].startswith(
        f"no BEDS node listens for admin commands on 127.0.0.1:5672 (exchange "
        f"'{exchange}.control'): is `beds up` running?"
    )


# --- beds config check ----------------------------------------------------------------------
# These commands get a config file of their own (tmp_path/beds.toml), so the expected output
# is fixed here and does not follow edits of the shared test config.


def write_config(folder: Path, *, database: str = "beds_cli_unused", schema_dir: str = "") -> Path:
    """A whole config: two stores (only `main` has a schema_dir), three roles, two of them run.

    Nothing connects to `spare` (127.0.0.1:9): config check never connects and schema apply
    skips a store without a schema_dir.
    """
    customer = (FIXTURES / "templates" / "customer_rec.toml").read_text()
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "customer_rec.toml").write_text(customer)
    base = folder / "beds.toml"
    base.write_text(
        f"""templates_dir = "templates"

[node]
roles = ["appServer", "segundo"]
name = "cli-config"

[amqp]
exchange = "beds_cli_config"
queue_prefix = "beds_cli_config."

[stores.main]
kind = "mariadb"
pool_size = 3
schema_dir = "{schema_dir}"

[stores.main.master]
user = "beds"
password = "beds"
database = "{database}"

[stores.spare]
kind = "mariadb"
pool_size = 2

[stores.spare.master]
port = 9
user = "spare"
database = "spare"

[roles.appServer.brokers.rBroker]
instances = 2
ops = ["fetch"]

[roles.appServer.brokers.wBroker]
instances = 1
ops = ["create", "update", "delete"]
templates = ["customer"]

[roles.segundo.brokers.whBroker]
instances = 1
ops = ["create", "fetch", "update", "delete"]
templates = []

[roles.tercero.brokers.uBroker]
instances = 1
"""
    )
    return base


def copy_template(folder: Path, name: str, *replace: tuple[str, str]) -> None:
    """templates/<name>_rec.toml: the customer template renamed, with more replacements."""
    text = (folder / "templates" / "customer_rec.toml").read_text()
    for old, new in [('name = "customer"', f'name = "{name}"'), *replace]:
        assert old in text
        text = text.replace(old, new)
    (folder / "templates" / f"{name}_rec.toml").write_text(text)


def test_config_check_prints_the_summary_and_no_secret(tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex[:10]
    base = write_config(tmp_path)
    copy_template(tmp_path, f"audit{run_id}")
    secrets = [f"s3cret-{what}-{run_id}" for what in ("amqp", "main", "spare", "token")]
    # Credentials where operators keep them: the env file next to the base, and env vars.
    (tmp_path / "env_dev.toml").write_text(
        f'[stores.main.master]\npassword = "{secrets[1]}"\n\n'
        f'[stores.spare.master]\npassword = "{secrets[2]}"\n\n'
        f'[admin]\ntoken = "{secrets[3]}"\n'
    )
    env = {
        "BEDS_CONFIG": str(base),
        "BEDS__AMQP__PASSWORD": secrets[0],
        "BEDS__NODE__NAME": f"cli-check-{run_id}",
    }
    done = run([BEDS, "config", "check"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"env dev, node cli-check-{run_id}, roles appServer, segundo",
        "amqp 127.0.0.1:5672 exchange 'beds_cli_config'",
        "store main: mariadb 127.0.0.1:3306/beds_cli_unused pool 3",
        "store spare: mariadb 127.0.0.1:9/spare pool 2",
        "broker appServer.rBroker: 2 x, ops fetch; templates: all templates",
        "broker appServer.wBroker: 1 x, ops create, update, delete; templates: customer",
        "broker segundo.whBroker: 1 x, ops create, fetch, update, delete; templates: none",
        f"templates: audit{run_id}, customer",
        "relations: none",
    ]
    assert done.stderr == ""
    for secret in secrets:
        assert secret not in done.stdout
    # The same config in qa: the env file is env_qa.toml, which does not exist.
    qa = run([BEDS, "config", "check"], {**env, "BEDS_ENV": "qa"})
    assert qa.returncode == 0, qa.stderr
    assert qa.stdout.splitlines()[0] == f"env qa, node cli-check-{run_id}, roles appServer, segundo"


def test_config_check_names_the_file_and_key_of_every_problem(tmp_path: Path) -> None:
    base = write_config(tmp_path)
    env_file = tmp_path / "env_qa.toml"
    env_file.write_text('[limits]\nmax_body_bytes = "lots"\n\n[amqp]\nprot = 5673\n')
    done = run(
        [BEDS, "config", "check"],
        {"BEDS_CONFIG": str(base), "BEDS_ENV": "qa", "BEDS__RAY__NAMESPACES": "x"},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert err_lines(done) == [
        "invalid configuration (3 problem(s)):",
        f"  - amqp.prot: unknown key (typo? see config/beds.toml for the valid keys)  [{env_file}]",
        "  - ray.namespaces: unknown key (typo? see config/beds.toml for the valid keys)  "
        "[env var BEDS__RAY__NAMESPACES]",
        "  - limits.max_body_bytes: Input should be a valid integer, unable to parse string as "
        f"an integer (got 'lots')  [{env_file}]",
    ]


def test_config_check_names_a_file_that_is_not_toml(tmp_path: Path) -> None:
    base = write_config(tmp_path)
    (tmp_path / "env_qa.toml").write_text("[amqp\nport = 1\n")
    done = run([BEDS, "config", "check"], {"BEDS_CONFIG": str(base), "BEDS_ENV": "qa"})
    assert done.returncode == 2
    assert done.stdout == ""
    assert err_lines(done)[0].startswith(f"{tmp_path / 'env_qa.toml'}: not valid TOML: ")


def test_config_check_names_a_missing_templates_folder(tmp_path: Path) -> None:
    missing = f"/nonexistent-templates-{uuid.uuid4().hex[:8]}"
    env = {"BEDS_CONFIG": str(write_config(tmp_path)), "BEDS__TEMPLATES_DIR": missing}
    done = run([BEDS, "config", "check"], env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert err_lines(done) == [
        f"templates directory not found: {missing} (config key templates_dir)"
    ]


def test_config_check_names_each_bad_template_file_and_key(tmp_path: Path) -> None:
    base = write_config(tmp_path)
    copy_template(tmp_path, "lost", ('store = "main"', 'store = "nowhere"'))
    copy_template(tmp_path, "typo", ("max_fetch = 100", "max_fetch = 100\nmax_fetchh = 5"))
    done = run([BEDS, "config", "check"], {"BEDS_CONFIG": str(base)})
    assert done.returncode == 2
    assert done.stdout == ""
    folder = tmp_path / "templates"
    assert err_lines(done) == [
        "invalid templates (2 problem(s)):",
        f"  - {folder / 'lost_rec.toml'}: store = 'nowhere' is not a configured store "
        "(configured: main, spare; see [stores.*])",
        f"  - {folder / 'typo_rec.toml'}: max_fetchh: unknown key",
    ]


# --- beds schema apply ----------------------------------------------------------------------

RUNS = "CREATE TABLE IF NOT EXISTS cli_runs (file VARCHAR(20) NOT NULL);\n"
V001 = RUNS + (
    "CREATE TABLE IF NOT EXISTS cli_thing (id INT PRIMARY KEY, label VARCHAR(20));\n"
    "INSERT INTO cli_runs VALUES ('V001');\n"
)
V002 = RUNS + (
    "CREATE OR REPLACE VIEW v_cli_thing AS SELECT id, label FROM cli_thing;\n"
    "INSERT INTO cli_runs VALUES ('V002');\n"
)
V002_CHANGED = RUNS + (
    "CREATE OR REPLACE VIEW v_cli_thing AS SELECT id, label, 'v2' AS rev FROM cli_thing;\n"
    "INSERT INTO cli_runs VALUES ('V002');\n"
)
V003_BAD = "INSERT INTO cli_runs VALUES ('V003');\nSELECT nothing FROM cli_no_such_table;\n"
V003_FIXED = "INSERT INTO cli_runs VALUES ('V003');\nSELECT id FROM cli_thing;\n"


async def query(ep: DbEndpoint, sql: str) -> list[tuple[Any, ...]]:
    conn = await aiomysql.connect(
        host=ep.host, port=ep.port, user=ep.user, password=ep.password, db=ep.database
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return list(await cur.fetchall())
    finally:
        conn.close()


async def drop_database(ep: DbEndpoint) -> None:
    conn = await aiomysql.connect(host=ep.host, port=ep.port, user=ep.user, password=ep.password)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{ep.database}`")
    finally:
        conn.close()


async def test_schema_apply_applies_new_and_changed_files_once(tmp_path: Path) -> None:
    database = f"beds_cli_{uuid.uuid4().hex[:10]}"
    schema = tmp_path / "schema"
    schema.mkdir()
    files = {"V001__x.sql": V001, "V002__y.sql": V002}
    for name, text in files.items():
        (schema / name).write_text(text)
    base = write_config(tmp_path, database=database, schema_dir="schema")
    overrides = {"BEDS_CONFIG": str(base)}
    ep = load_from(base, env="dev", environ={}).stores["main"].master
    assert ep.database == database
    main = f"store main (127.0.0.1:3306/{database})"
    spare = "store spare: skipped (no schema_dir)"  # never connected to: it has no files

    def sha(name: str) -> str:
        return hashlib.sha256((schema / name).read_bytes()).hexdigest()

    async def history() -> list[tuple[Any, ...]]:
        return await query(
            ep, "SELECT version, name, checksum FROM beds_schema_history ORDER BY version"
        )

    async def runs() -> dict[str, int]:
        rows = await query(ep, "SELECT file, COUNT(*) FROM cli_runs GROUP BY file")
        return {str(f): int(n) for f, n in rows}

    async def apply() -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run, [BEDS, "schema", "apply"], overrides)

    try:
        first = await apply()
        assert first.returncode == 0, first.stderr
        assert err_lines(first) == [f"{main}: V001__x.sql, V002__y.sql", spare]
        assert await history() == [
            (1, "V001__x.sql", sha("V001__x.sql")),
            (2, "V002__y.sql", sha("V002__y.sql")),
        ]
        assert await runs() == {"V001": 1, "V002": 1}

        again = await apply()
        assert again.returncode == 0, again.stderr
        assert err_lines(again) == [f"{main}: up to date", spare]
        assert await runs() == {"V001": 1, "V002": 1}

        old_v002 = sha("V002__y.sql")
        (schema / "V002__y.sql").write_text(V002_CHANGED)
        changed = await apply()
        assert changed.returncode == 0, changed.stderr
        assert err_lines(changed) == [f"{main}: V002__y.sql", spare]
        assert sha("V002__y.sql") != old_v002
        assert await history() == [
            (1, "V001__x.sql", sha("V001__x.sql")),
            (2, "V002__y.sql", sha("V002__y.sql")),
        ]
        assert await runs() == {"V001": 1, "V002": 2}
        assert await query(ep, "SELECT id, label, rev FROM v_cli_thing") == []

        (schema / "V003__z.sql").write_text(V003_BAD)
        bad = await apply()
        assert bad.returncode == 1
        assert err_lines(bad) == [
            f"{schema / 'V003__z.sql'}: statement `SELECT nothing FROM cli_no_such_table…` "
            f"failed: (1146, \"Table '{database}.cli_no_such_table' doesn't exist\")"
        ]
        # The failed file is not recorded: the next run tries it again (files are idempotent).
        assert [v for v, _, _ in await history()] == [1, 2]
        assert await runs() == {"V001": 1, "V002": 2, "V003": 1}

        (schema / "V003__z.sql").write_text(V003_FIXED)
        fixed = await apply()
        assert fixed.returncode == 0, fixed.stderr
        assert err_lines(fixed) == [f"{main}: V003__z.sql", spare]
        assert await history() == [
            (1, "V001__x.sql", sha("V001__x.sql")),
            (2, "V002__y.sql", sha("V002__y.sql")),
            (3, "V003__z.sql", sha("V003__z.sql")),
        ]
        assert await runs() == {"V001": 1, "V002": 2, "V003": 2}
    finally:
        await drop_database(ep)


# --- beds admin-hash-token, beds-submit -----------------------------------------------------


def test_admin_hash_token_prints_an_argon2_hash_of_the_token() -> None:
    token = f"tok-{uuid.uuid4().hex}"
    done = run([BEDS, "admin-hash-token", token], {})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("$argon2id$")
    hasher = PasswordHasher()
    assert hasher.verify(lines[0], token) is True
    with pytest.raises(VerifyMismatchError):
        hasher.verify(lines[0], token + "x")


def test_submit_without_a_ray_job_api_exits_2_naming_the_address() -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    done = run([BEDS_SUBMIT, "--role", "admin", "--address", address], {}, timeout_s=120)
    assert done.returncode == 2
    assert done.stdout == ""
    message = " ".join(err_lines(done))
    assert message.startswith(f"cannot reach the Ray job API at {address}: ")
    assert message.endswith(
        "— is the head up (`ray up ray_cluster.yaml`) and RAY_AUTH_MODE/token set?"
    )
