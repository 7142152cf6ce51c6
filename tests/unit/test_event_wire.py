"""The compact event wire format: built cheaply on the request path, checked at the store."""

from __future__ import annotations

import orjson
import pytest

from beds_actors.events.model import FIELDS, encode, event, rows_of

T0 = 1_796_227_479_045_729  # 2026-12-02 16:04:39.045729 UTC


def one(**changes: object) -> list[object]:
    steps = [["b", T0 + 100, T0 + 900, "ok", "", "3 delivery(ies)"],
             ["c", T0 + 300, T0 + 700, "error", "conflict", "sp_x: 0 row(s)"],
             ["y", T0 + 1000, T0 + 1200, "ok", "", ""]]  # fmt: skip
    base = event(
        "R", None, "R", "request", "n1", "appServer", "wBroker", 0, "customer", "create",
        "error", "conflict", 1, T0, T0 + 1271, "", "m1", "duplicate", steps,
    )  # fmt: skip
    for key, value in changes.items():
        base[FIELDS.index(key)] = value
    return base


def test_a_delivery_becomes_one_record_with_its_steps_as_columns() -> None:
    (row,) = rows_of(encode([one()]))
    assert row["event_id"] == "R" and row["parent"] is None and row["instance"] == 0
    assert row["started"] == "2026-12-02 16:04:39.045729"
    assert row["ended"] == "2026-12-02 16:04:39.047000"
    assert row["duration_us"] == 1271
    assert "started_us" not in row and "steps" not in row
    assert row["b_started"] == "2026-12-02 16:04:39.045829"
    assert row["b_detail"] == "3 delivery(ies)"
    assert (row["c_status"], row["c_code"], row["c_detail"]) == (
        "error",
        "conflict",
        "sp_x: 0 row(s)",
    )
    assert row["y_ended"] == "2026-12-02 16:04:39.046929"
    assert "s_started" not in row and "d_started" not in row  # no retry, not parked


def test_the_detail_is_cut_to_what_the_store_keeps() -> None:
    assert len(one(detail="x" * 5000)[FIELDS.index("detail")]) == 5000  # as given here
    assert len(event(*one()[:17], detail="x" * 5000)[-2]) == 4000  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        (orjson.dumps([one()]), "version-1 batch"),
        (orjson.dumps({"v": 1, "events": {}}), "events: expected a list"),
        (encode([one()[:5]]), "events[0]: expected a list of 19 values"),
        (encode([one(steps={})]), "events[0].steps: expected a list"),
        (encode([one(steps=[["q", 1, 2, "ok", "", ""]])]), "events[0].steps: 'q' is not one"),
        (encode([one(steps=[["b", 1, 2, "ok", "", ""]] * 2)]), "events[0].steps: 'b'"),
        (encode([one(steps=[["b", "1", 2, "ok", "", ""]])]), "events[0].steps.b: times"),
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
