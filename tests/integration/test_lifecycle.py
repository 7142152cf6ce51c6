"""`beds up` as an operator runs it: IPL failures, and a clean shutdown under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomysql
import orjson
import psutil
import pytest

from beds_actors.admin.auth import hash_token
from beds_actors.testing import (
    QueueState,
    ReplyTap,
    connection,
    count_rows,
    isolated_overrides,
    queue_states,
    wait_until,
)
from tests.conftest import BEDS, cli_env, load_test_config, reset_topology, run_id

pytestmark = pytest.mark.integration
# Subprocess systems get their own exchange, queues and Ray namespace.
ISOLATED = isolated_overrides("lifecycle_test")
CONFIG = load_test_config(**ISOLATED)


@pytest.fixture(autouse=True)
async def isolated_topology() -> AsyncIterator[None]:
    """Every test starts from no queues and leaves none: no test inherits another's requests."""
    await reset_topology(CONFIG)
    yield
    await reset_topology(CONFIG)


def beds_env(**overrides: str) -> dict[str, str]:
    """Environment for a `beds` subprocess on the isolated test config, with BEDS__ overrides."""
    return cli_env(**{**ISOLATED, **overrides})


def run_beds_up(**overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BEDS, "up"], env=beds_env(**overrides), capture_output=True, text=True, timeout=120
    )


def test_prod_aborts_naming_the_unreachable_service() -> None:
    done = run_beds_up(BEDS_ENV="prod", BEDS__AMQP__PORT="1")
    assert done.returncode != 0
    assert "RabbitMQ" in done.stderr
    assert "127.0.0.1:1" in done.stderr


# The test config's optional store `ghost` points at 127.0.0.1:9, where nothing listens.


def test_dev_warns_loudly_about_an_unreachable_optional_store_and_goes_on() -> None:
    # A missing templates folder stops the IPL one step after preflight, before Ray starts.
    done = run_beds_up(BEDS__TEMPLATES_DIR="/nonexistent-templates")
    assert done.returncode != 0
    assert "NOT reachable" in done.stderr
    assert "stores.ghost.master at 127.0.0.1:9" in done.stderr
    assert "IPL step 'registry' failed" in done.stderr
    assert "/nonexistent-templates" in done.stderr


def test_prod_aborts_on_an_unreachable_optional_store() -> None:
    done = run_beds_up(BEDS_ENV="prod")
    assert done.returncode != 0
    assert "stores.ghost.master at 127.0.0.1:9 is not reachable" in done.stderr


def test_invalid_config_stops_the_start_listing_every_problem() -> None:
    done = run_beds_up(BEDS__AMQP__PORT="'many'", BEDS__LIMITS__NO_SUCH_KEY="1")
    assert done.returncode != 0
    assert "amqp.port" in done.stderr
    assert "limits.no_such_key" in done.stderr
    assert "BEDS__AMQP__PORT" in done.stderr


@pytest.mark.parametrize("stop_with", ["SIGTERM", "beds shutdown"])
async def test_stop_under_load_answers_or_keeps_every_request_and_leaves_nothing(
    stop_with: str,
) -> None:
    queues = [CONFIG.queue_name("rBroker"), CONFIG.queue_name("wBroker")]
    log_path = Path(f"/tmp/beds-shutdown-test-{os.getpid()}.log")
    node, token = f"life-{run_id()}", f"token-{run_id()}"
    secrets = {"BEDS__ADMIN__TOKEN": token, "BEDS__ADMIN__TOKEN_HASH": hash_token(token)}
    env = beds_env(BEDS__NODE__NAME=node, **secrets)
    with log_path.open("w") as log:
        proc = subprocess.Popen([BEDS, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "IPL complete" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "beds up did not reach ready in 120 s"
            await asyncio.sleep(0.2)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("raylet" in (c.name() or "") for c in children)

        sent, run = 2000, run_id()
        names = [f"stop-{run}-{i}" for i in range(sent)]
        async with ReplyTap(CONFIG.amqp) as tap:
            body = {"template": "customer", "op": "create"}
            cids = await asyncio.gather(
                *(tap.publish("appServer.wBroker", {**body, "data": {"name": n}}) for n in names)
            )
            await wait_until(lambda: tap.answered(cids) >= 20, timeout_s=60, what="first replies")
            if stop_with == "SIGTERM":
                proc.send_signal(signal.SIGTERM)
            else:  # the admin command, over AMQP, as an operator sends it
                command = await asyncio.to_thread(
                    subprocess.run,
                    [BEDS, "shutdown"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert command.returncode == 0, command.stderr
                assert "shutting down" in command.stdout
            rc = await asyncio.to_thread(proc.wait, 90)
            assert rc == 0, log_path.read_text()[-3000:]

            # BEDS is gone: every request is answered or back in its queue, none lost.
            async def accounted() -> bool:
                ready = (await queue_states(CONFIG.amqp, [queues[1]]))[queues[1]]
                return ready is not None and ready.ready + tap.answered(cids) == sent

            await wait_until(accounted, timeout_s=30, what="answered + queued == sent")
        answered = [n for n, c in zip(names, cids, strict=True) if tap.replies.get(c)]
        assert 0 < len(answered) < sent, "the stop did not land mid-load"
        assert set(tap.counts(cids)) <= {0, 1}
        assert {tap.replies[c][0]["status"] for c in cids if tap.replies.get(c)} == {"ok"}
        states = await queue_states(CONFIG.amqp, queues)
        assert states[queues[0]] == QueueState(ready=0, consumers=0)
        assert states[queues[1]] == QueueState(ready=sent - len(answered), consumers=0)
        # Answered creates made their record; queued ones have not run.
        rows = await count_rows(CONFIG.stores["main"].master, "v_customer", "cst_name", names)
        assert [n for n, r in zip(names, rows, strict=True) if r] == answered
        assert set(rows) <= {0, 1}
        assert "stopped cleanly" in log_path.read_text()
        await assert_one_ipl_record_without_secrets(node, [token, *secrets.values()])
        await asyncio.sleep(1)
        alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [c.cmdline()[:2] for c in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
        log_path.unlink(missing_ok=True)


async def assert_one_ipl_record_without_secrets(node: str, secrets: list[str]) -> None:
    """The start of `node` wrote exactly one IPL record: its steps, and no secret anywhere."""
    logs = CONFIG.stores["logs"].master
    async with connection(logs) as conn, conn.cursor(aiomysql.DictCursor) as cur:
        await cur.execute(
            "SELECT * FROM v_mst_logger WHERE lgr_node = %s AND lgr_kind = 'ipl'", (node,)
        )
        records = list(await cur.fetchall())
        await cur.execute("SELECT * FROM v_mst_logger WHERE lgr_node = %s", (node,))
        everything = orjson.dumps(list(await cur.fetchall()), default=str).decode()
    assert len(records) == 1, records
    detail = orjson.loads(records[0]["lgr_detail"])
    steps = ["config", "logging", "preflight", "amqp", "registry", "ray", "actors"]
    assert [(s["step"], s["ok"]) for s in detail["steps"]] == [(s, True) for s in steps]
    assert detail["node"] == node and "customer" in detail["templates"]
    assert len(detail["config_fingerprint"]) == 16 and len(detail["templates_hash"]) == 16
    # No configured password, token or token hash in any event of that node.
    passwords = [CONFIG.amqp.password, *(st.master.password for st in CONFIG.stores.values())]
    assert not [v for v in _values(detail) if v in passwords]
    assert not [s for s in secrets if s in everything]


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    return [value]
