"""Thousands of generated bodies and properties: each gets a well-formed reply, nothing sticks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from beds_actors.core.errors import ErrorCode
from beds_actors.ipl import System

pytestmark = pytest.mark.integration
EXAMPLES = 2000
NASTY_TEXT = st.sampled_from(
    [
        "'; DROP TABLE customer; --",
        '" OR 1=1 --',
        "\x00",
        "a\x00b",
        "$where",
        "$gt",
        "{$ne: null}",
        "\ud7ff\ue000",
        "🦄" * 50,
        "x" * 5000,
        "",
    ]
)
TEXT = st.one_of(NASTY_TEXT, st.text(max_size=40))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
FIELD_NAMES = st.one_of(
    st.sampled_from(["name", "email", "guid", "created", "$where", "$gt", "cst_name", "__proto__"]),
    TEXT,
)
# Well-shaped requests reach validation, the adapters and the database; wild ones the decoder.
SHAPED = st.fixed_dictionaries(
    {
        "template": st.sampled_from(["customer", "customer", "slowpoke", "ghost"]),
        "op": st.sampled_from(["create", "fetch", "update", "delete"]),
    },
    optional={
        "data": st.dictionaries(FIELD_NAMES, st.one_of(SCALAR, JSON), max_size=3),
        "query": st.dictionaries(FIELD_NAMES, SCALAR, max_size=2),
        "limit": st.integers(-5, 5000),
    },
)
WILD = st.fixed_dictionaries(
    {
        "template": st.one_of(st.sampled_from(["customer", "slowpoke", "ghost"]), JSON),
        "op": st.one_of(st.sampled_from(["create", "fetch", "update", "delete"]), JSON),
    },
    optional={
        "data": st.one_of(st.dictionaries(FIELD_NAMES, JSON, max_size=4), JSON),
        "query": st.one_of(st.dictionaries(FIELD_NAMES, SCALAR, max_size=3), JSON),
        "limit": st.one_of(st.integers(), JSON),
        "event_id": TEXT,
        "parent_event_id": TEXT,
        "v": JSON,
        "surprise": JSON,
    },
)
BODY = st.one_of(
    SHAPED.map(lambda r: json.dumps(r).encode()),
    SHAPED.map(lambda r: json.dumps(r).encode()),
    SHAPED.map(lambda r: json.dumps(r).encode()),
    WILD.map(lambda r: json.dumps(r).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 5000)),
    st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, st.integers(1, 3000)),
    st.just(b'{"template": "customer", "op": "fetch", "query": {"name": "%s"}}' % (b"y" * 70_000)),
)
HEADER_VALUE = st.one_of(
    st.integers(-(2**31), 2**31), TEXT, st.booleans(), st.binary(max_size=20).map(bytearray)
)
PROPERTIES = st.fixed_dictionaries(
    {},
    optional={
        "content_type": TEXT.filter(lambda s: len(s.encode()) < 200 and "\x00" not in s),
        "message_id": st.text(max_size=60).filter(lambda s: len(s.encode()) < 200),
        "headers": st.dictionaries(
            st.sampled_from(["x-beds-attempt", "x-beds-returns", "x-beds-event-id", "x-other"]),
            HEADER_VALUE,
            max_size=3,
        ),
        "priority": st.integers(0, 9),
        "type": st.text(max_size=20).filter(lambda s: len(s.encode()) < 200),
    },
)
CASE = st.tuples(st.sampled_from(["rBroker", "wBroker"]), BODY, PROPERTIES)


def generate_cases() -> list[tuple[str, bytes, dict[str, Any]]]:
    """Let hypothesis draw the cases; they are then sent concurrently to the running system."""
    cases: list[tuple[str, bytes, dict[str, Any]]] = []

    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(CASE)
    def collect(case: tuple[str, bytes, dict[str, Any]]) -> None:
        cases.append(case)

    collect()
    return cases


def assert_well_formed(reply: dict[str, Any], case: Any) -> None:
    assert reply["status"] in ("ok", "error"), case
    assert isinstance(reply["event_id"], str) and reply["event_id"], case
    if reply["status"] == "error":
        assert reply["error"]["code"] in {c.value for c in ErrorCode}, case
        assert isinstance(reply["error"]["message"], str) and reply["error"]["message"], case
    else:
        assert "data" in reply, case


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


async def test_fuzzed_messages_get_well_formed_replies_and_leave_nothing_behind(
    client: BedsClient, beds: System, test_config: BedsConfig
) -> None:
    cases = await asyncio.to_thread(generate_cases)
    assert len(cases) >= EXAMPLES // 2
    handles = {b: beds.brokers[f"beds/appServer/{b}/0"] for b in ("rBroker", "wBroker")}
    pids = {b: await h.pid.remote() for b, h in handles.items()}
    memory_before = {b: rss(pid) for b, pid in pids.items()}

    codes: dict[str, int] = {}
    samples: dict[str, str] = {}
    for start in range(0, len(cases), 200):
        chunk = cases[start : start + 200]
        replies = await asyncio.gather(
            *(
                client.send(body, f"appServer.{broker}", timeout_s=60, **props)
                for broker, body, props in chunk
            )
        )
        for reply, case in zip(replies, chunk, strict=True):
            assert_well_formed(reply, case)
            code = reply["error"]["code"] if reply["status"] == "error" else "ok"
            codes[code] = codes.get(code, 0) + 1
            if code != "ok":
                samples.setdefault(code, reply["error"]["message"][:160])
    print(f"\nfuzz: {len(cases)} messages, replies by code: {codes}\nsamples: {samples}")
    assert codes.get("malformed_request", 0) > 0 and codes.get("validation_failed", 0) > 0

    for broker, handle in handles.items():
        for _ in range(50):  # a reply goes out just before its request is acked
            stats = await handle.stats.remote()
            if stats["inflight"] == 0:
                break
            await asyncio.sleep(0.1)
        assert stats["inflight"] == 0, (broker, stats)
        assert await handle.pid.remote() == pids[broker], f"{broker} died during the fuzz run"
        growth = rss(pids[broker]) - memory_before[broker]
        assert growth < 300 * 2**20, f"{broker} grew by {growth / 2**20:.0f} MiB"
    connection = await aio_pika.connect(test_config.amqp.url)
    try:
        channel = await connection.channel()
        for broker in handles:
            queue = await channel.declare_queue(test_config.queue_name(broker), passive=True)
            assert queue.declaration_result.message_count == 0
            assert queue.declaration_result.consumer_count == 1
    finally:
        await connection.close()
