"""Thousands of generated bodies and properties: each gets a well-formed reply, nothing sticks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from beds_actors.core.errors import ErrorCode
from beds_actors.ipl import System
from beds_actors.testing import QueueState, ReplyTap, queue_states, wait_until

pytestmark = pytest.mark.integration
EXAMPLES = 2000
CHUNK = 200
WARM_CHUNKS = 3
MAX_GROWTH = 16 * 2**20
NO_REPLY_CASES = 300
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


async def settled(handle: Any) -> dict[str, int]:
    """The broker's counters once it holds nothing unacked (a reply goes out before its ack)."""
    stats: dict[str, int] = {}

    async def idle() -> bool:
        stats.update(await handle.stats.remote())
        return stats["inflight"] == 0

    await wait_until(idle, timeout_s=30, what="broker holding nothing unacked")
    return stats


async def test_fuzzed_messages_get_well_formed_replies_and_leave_nothing_behind(
    client: BedsClient, beds: System, test_config: BedsConfig
) -> None:
    cases = await asyncio.to_thread(generate_cases)
    assert len(cases) == EXAMPLES
    handles = {b: beds.brokers[f"beds/appServer/{b}/0"] for b in ("rBroker", "wBroker")}
    pids = {b: await h.pid.remote() for b, h in handles.items()}
    memory: dict[str, list[int]] = {b: [] for b in handles}

    codes: dict[str, int] = {}
    samples: dict[str, str] = {}
    for start in range(0, len(cases), CHUNK):
        chunk = cases[start : start + CHUNK]
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
        for broker, pid in pids.items():
            memory[broker].append(rss(pid))
    print(f"\nfuzz: {len(cases)} messages, replies by code: {codes}\nsamples: {samples}")
    assert sum(codes.values()) == EXAMPLES
    assert codes.get("malformed_request", 0) > 0 and codes.get("validation_failed", 0) > 0

    for broker, handle in handles.items():
        await settled(handle)
        assert await handle.pid.remote() == pids[broker], f"{broker} died during the fuzz run"
        # After the first chunks warmed the broker up, handling more messages must not keep
        # growing it: a leak of even 10 kB per message would show here.
        warm = memory[broker][WARM_CHUNKS - 1]
        growth = max(memory[broker][WARM_CHUNKS:]) - warm
        print(f"{broker}: RSS {warm / 2**20:.0f} MiB after warm-up, then +{growth / 2**20:.1f} MiB")
        assert growth < MAX_GROWTH, f"{broker} grew by {growth / 2**20:.1f} MiB after warm-up"
    states = await queue_states(test_config.amqp, [test_config.queue_name(b) for b in handles])
    assert set(states.values()) == {QueueState(ready=0, consumers=1)}, states


async def test_hostile_bodies_without_reply_to_are_executed_or_refused_and_none_sticks(
    beds: System, test_config: BedsConfig
) -> None:
    cases = (await asyncio.to_thread(generate_cases))[:NO_REPLY_CASES]
    handles = {b: beds.brokers[f"beds/appServer/{b}/0"] for b in ("rBroker", "wBroker")}
    before = {b: await settled(h) for b, h in handles.items()}
    async with ReplyTap(test_config.amqp) as tap:
        for broker, body, props in cases:
            await tap.publish(f"appServer.{broker}", body, reply=False, **props)
        sent = {b: sum(1 for case in cases if case[0] == b) for b in handles}

        async def all_settled() -> bool:
            for broker, handle in handles.items():
                stats = await handle.stats.remote()
                dropped = stats["dropped_no_reply_to"] - before[broker]["dropped_no_reply_to"]
                if dropped < sent[broker] or stats["inflight"]:
                    return False
            return True

        # Each one ends in exactly one reply that has nowhere to go: counted, then acked.
        await wait_until(all_settled, timeout_s=120, what="every fire-and-forget request done")
        assert not tap.replies, "a request without reply_to was answered somewhere"
    for broker, handle in handles.items():
        stats = await handle.stats.remote()
        dropped = stats["dropped_no_reply_to"] - before[broker]["dropped_no_reply_to"]
        assert dropped == sent[broker], (broker, dropped, sent[broker])
    states = await queue_states(test_config.amqp, [test_config.queue_name(b) for b in handles])
    assert set(states.values()) == {QueueState(ready=0, consumers=1)}, states
