"""`beds up` as an operator runs it: IPL failures, and a clean shutdown under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import psutil
import pytest

from beds_actors.client import BedsClient
from tests.conftest import TEST_CONFIG, load_test_config, reset_topology

pytestmark = pytest.mark.integration
BEDS = str(Path(sys.executable).with_name("beds"))
# Subprocess systems get their own exchange, queues and Ray namespace.
ISOLATED = {
    "BEDS__AMQP__EXCHANGE": "beds_lifecycle_test",
    "BEDS__AMQP__QUEUE_PREFIX": "beds_lifecycle_test.",
    "BEDS__RAY__NAMESPACE": "beds_lifecycle_test",
}
CONFIG = load_test_config(**ISOLATED)


@pytest.fixture(autouse=True, scope="module")
async def isolated_topology() -> AsyncIterator[None]:
    await reset_topology(CONFIG)
    yield
    await reset_topology(CONFIG)


def beds_env(**overrides: str) -> dict[str, str]:
    """Environment for a `beds` subprocess on the isolated test config, with BEDS__ overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDS")}
    env.update({"BEDS_CONFIG": str(TEST_CONFIG), "BEDS_ENV": "dev", **ISOLATED, **overrides})
    return env


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


async def queue_state(url: str, names: list[str]) -> dict[str, tuple[int, int]]:
    """(messages ready, consumers) per queue, read with passive declares."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        out = {}
        for name in names:
            queue = await channel.declare_queue(name, passive=True)
            result = queue.declaration_result
            out[name] = (result.message_count, result.consumer_count)
        return out
    finally:
        await connection.close()


@pytest.mark.parametrize("stop_with", ["SIGTERM", "beds shutdown"])
async def test_stop_under_load_answers_or_keeps_every_request_and_leaves_nothing(
    stop_with: str,
) -> None:
    exchange, url = CONFIG.amqp.exchange, CONFIG.amqp.url
    queues = [CONFIG.queue_name("rBroker"), CONFIG.queue_name("wBroker")]
    log_path = Path(f"/tmp/beds-shutdown-test-{os.getpid()}.log")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [BEDS, "up"],
            env=beds_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "IPL complete" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "beds up did not reach ready in 120 s"
            await asyncio.sleep(0.2)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("raylet" in (c.name() or "") for c in children)

        async with BedsClient(url, exchange=exchange, timeout_s=20) as client:
            sent = 400
            calls = [
                asyncio.ensure_future(client.call("customer", "create", {"name": f"s{i}"}))
                for i in range(sent)
            ]
            while sum(c.done() for c in calls) < 20:
                await asyncio.sleep(0.01)
            if stop_with == "SIGTERM":
                proc.send_signal(signal.SIGTERM)
            else:  # the admin command, over AMQP, as an operator sends it
                command = await asyncio.to_thread(
                    subprocess.run,
                    [BEDS, "shutdown"],
                    env=beds_env(),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert command.returncode == 0, command.stderr
                assert "shutting down" in command.stdout
            rc = await asyncio.to_thread(proc.wait, 90)
            assert rc == 0, log_path.read_text()[-3000:]
            # BEDS is gone: whatever it answered has arrived within a moment.
            await asyncio.wait(calls, timeout=3)
            answered = [c.result() for c in calls if c.done() and not c.exception()]
            unanswered = [c for c in calls if not c.done()]
            for call in unanswered:
                call.cancel()
        assert len(answered) + len(unanswered) == sent  # no call failed any other way
        assert all(r["status"] == "ok" for r in answered)
        state = await queue_state(url, queues)
        assert state[queues[0]] == (0, 0)
        ready, consumers = state[queues[1]]
        assert consumers == 0
        assert ready == len(unanswered)  # never lost: either answered or still queued
        assert "stopped cleanly" in log_path.read_text()
        await asyncio.sleep(1)
        alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [c.cmdline()[:2] for c in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
        log_path.unlink(missing_ok=True)
