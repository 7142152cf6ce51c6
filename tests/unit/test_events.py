"""Compound event ids and the lineage of a delivery: root and parent are read from the id."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from beds_actors.core.errors import BedsError
from beds_actors.events.ids import (
    EVENT_ID,
    MAX_DEPTH,
    check,
    child,
    depth_of,
    new_root,
    parent_of,
    root_of,
    trace_id_of,
)
from beds_actors.events.lineage import EVENT, REPLAYS, of_delivery

SENT = datetime(2026, 12, 2, 15, 0, 0, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def delivery(**kwargs: object):
    base: dict[str, object] = {
        "headers": {},
        "message_id": None,
        "timestamp": None,
        "client_event_id": None,
        "client_parent": None,
        "attempt": 1,
        "returns": 0,
    }
    return of_delivery(**{**base, **kwargs})  # type: ignore[arg-type]


def test_roots_are_unique_sorted_by_time_and_valid() -> None:
    roots = [new_root() for _ in range(2000)]
    assert len(set(roots)) == 2000
    assert roots == sorted(roots)
    assert all(EVENT_ID.match(r) for r in roots)


def test_root_and_parent_are_read_from_any_id() -> None:
    leaf = child(child(child("R", "a", 2), "b"), "c")
    assert leaf == "R/a2/b/c"
    assert root_of(leaf) == "R" and parent_of(leaf) == "R/a2/b" and depth_of(leaf) == 3
    assert parent_of("R") is None and root_of("R") == "R"


def test_lineage_deeper_than_the_maximum_is_refused_with_a_clear_error() -> None:
    event_id = "R"
    for _ in range(MAX_DEPTH):
        event_id = child(event_id, "f", 1)
    with pytest.raises(BedsError, match="too deep"):
        child(event_id, "f", 1)


@pytest.mark.parametrize("bad", ["", "a b", "R//a", "R/A1", "R/a1/", "é", "R/" + "a" * 40])
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(BedsError, match="not a BEDS event id"):
        check(bad, "parent_event_id")


def test_a_fresh_request_is_its_own_root() -> None:
    lin = delivery()
    assert lin.event_id == lin.request_id == lin.root
    assert lin.parent is None


def test_message_id_and_send_time_fix_the_root_across_redeliveries() -> None:
    first = delivery(message_id="m-1", timestamp=SENT)
    again = delivery(message_id="m-1", timestamp=SENT, returns=1)
    other = delivery(message_id="m-2", timestamp=SENT)
    assert again.request_id == first.request_id != other.request_id
    assert again.event_id == f"{first.request_id}/r1" and again.parent == first.request_id
    assert first.request_id.startswith(f"{int(SENT.timestamp() * 1e6):013x}-")


def test_retries_and_replays_are_children_of_the_request() -> None:
    lin = delivery(headers={EVENT: "R", REPLAYS: 1}, attempt=2)
    assert (lin.request_id, lin.event_id, lin.parent, lin.root) == ("R", "R/p1/a2", "R/p1", "R")


def test_a_client_parent_puts_the_request_under_it() -> None:
    lin = delivery(client_parent="P/a2")
    assert re.fullmatch(r"P/a2/q[0-9a-f]{27}", lin.request_id)
    assert lin.parent == "P/a2" and lin.root == "P"
    sibling = delivery(client_parent="P/a2")
    assert sibling.request_id != lin.request_id


def test_a_client_event_id_is_kept_and_its_parent_recorded() -> None:
    lin = delivery(client_event_id="order-7", client_parent="shop-42")
    assert (lin.request_id, lin.parent, lin.root) == ("order-7", "shop-42", "shop-42")
    alone = delivery(client_event_id="order-7")
    assert (alone.request_id, alone.parent, alone.root) == ("order-7", None, "order-7")


def test_a_bad_client_parent_is_malformed() -> None:
    with pytest.raises(BedsError, match="parent_event_id"):
        delivery(client_parent="P//x")


@pytest.mark.parametrize(
    ("header", "trace_id"),
    [
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        (
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        (f"ff-{TRACE}-00f067aa0ba902b7-01", None),
        ("not a traceparent", None),
        (42, None),
        (None, None),
    ],
)
def test_traceparent_gives_its_trace_id_or_is_ignored(header: object, trace_id: str | None) -> None:
    assert trace_id_of(header) == trace_id
    lin = delivery(headers={"traceparent": header} if header is not None else {})
    assert lin.trace_id == (trace_id or "")
