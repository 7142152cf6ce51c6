"""The compact event wire format: built cheaply on the request path, checked at the store."""

from __future__ import annotations

import orjson
import pytest

from beds_actors.events.model import FIELDS, encode, event, rows_of


def one(**changes: object) -> list[object]:
    base = event(
        "R/b", "R", "R", "batch", "n1", "appServer", "wBroker", 0, "customer", "create",
        "ok", "", 1, 1_796_227_479_045_729, 1_796_227_479_047_000, "", "", "3 delivery(ies)",
    )  # fmt: skip
    for key, value in changes.items():
        base[FIELDS.index(key)] = value
    return base


def test_a_batch_becomes_records_with_utc_times_and_a_duration() -> None:
    (row,) = rows_of(encode([one()]))
    assert row["event_id"] == "R/b" and row["parent"] == "R" and row["instance"] == 0
    assert row["started"] == "2026-12-02 16:04:39.045729"
    assert row["ended"] == "2026-12-02 16:04:39.047000"
    assert row["duration_us"] == 1271
    assert "started_us" not in row and "ended_us" not in row


def test_the_detail_is_cut_to_what_the_store_keeps() -> None:
    assert len(one(detail="x" * 5000)[FIELDS.index("detail")]) == 5000  # as given here
    assert len(event(*one()[:17], detail="x" * 5000)[-1]) == 4000  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        (orjson.dumps([one()]), "version-1 batch"),
        (orjson.dumps({"v": 1, "events": {}}), "events: expected a list"),
        (encode([one()[:5]]), "events[0]: expected a list of 18 values"),
        (encode([one(kind="party")]), "events[0].kind"),
        (encode([one(attempt="1")]), "events[0].attempt: expected an integer"),
        (encode([one(started_us=True)]), "events[0].started_us: expected an integer"),
        (encode([one(root=None)]), "events[0].root: expected text"),
        (encode([one(), one(detail="x" * 4001)]), "events[1].detail: expected text"),
    ],
)
def test_a_bad_batch_is_refused_naming_the_problem(body: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        rows_of(body)
