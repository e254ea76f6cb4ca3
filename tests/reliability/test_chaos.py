"""A small chaos run, as CI runs it: a local stack of its own, faults everywhere, 40 orders at concurrency 4, then
every invariant of reliability/invariants.py. `make chaos` is the big one."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from reliability import chaos
from reliability.invariants import Request, Violation


def test_a_small_chaos_run_breaks_no_invariant(tmp_path: Path) -> None:
    report_path = tmp_path / "chaos.json"
    status = chaos.main(["--orders", "40", "--concurrency", "4", "--seed", "7", "--report", str(report_path)])
    report = json.loads(report_path.read_text())
    assert report["violations"] == [], json.dumps(report["violations"], indent=1)
    assert status == 0
    # The run did what it claims: faults of several kinds happened, and so did several outcomes.
    assert len(report["faultsInjected"]["byKind"]) >= 3, report["faultsInjected"]
    assert 0 < sum(report["outcomes"].values()) <= 40  # an order not created (503) leaves no order
    assert "CONFIRMED" in report["outcomes"]
    # The poison record is dead-lettered at least once, not exactly once: the relay sets it aside as a side effect
    # of an at-least-once invocation, and a batch delivered twice (the relay's 10% duplicates) or retried after a
    # crash (3%) sets it aside again. Every DLQ message says why it is there (the checker reports the rest).
    dlq, dead_letters = report["dlq"], json.dumps(report["deadLetters"], indent=1)
    assert dlq["poisonDeadLettered"] == dlq["poisonOnPurpose"] == 1, dead_letters
    assert dlq["relay"] >= 1, dead_letters
    assert dlq["eventsLost"] == dlq["audit"] == 0, dead_letters  # a real record given up on must be published
    assert all(entry["explanation"] and entry["reason"] for entry in report["deadLetters"]), dead_letters


def test_bad_arguments_are_refused_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        chaos.main(["--orders", "0"])
    assert exited.value.code == 2
    assert "argument --orders: must be at least 1, got 0" in capsys.readouterr().err


def test_the_report_gives_the_requests_behind_each_violation_in_the_order_sent() -> None:
    snapshot = SimpleNamespace(
        orders=[{"orderId": "ord_1", "idempotencyKey": "k-1"}, {"orderId": "ord_2", "idempotencyKey": "k-2"}],
        requests=[
            Request("k-1", {}, 504, {"code": "TIMED_OUT"}, sent=1.0, answered=30.0),
            Request("k-2", {}, 201, {"orderId": "ord_2"}),
            Request("k-1", {}, 422, {"code": "IDEMPOTENCY_KEY_REUSED"}, "retry", sent=32.0, answered=32.5),
        ],
    )

    listed = chaos.requests_of([Violation("wrong_status", "retry got 422", ("ord_1",))], snapshot)

    assert listed == {"ord_1": [
        {"kind": "original", "status": 504, "sent": 1.0, "answered": 30.0, "code": "TIMED_OUT", "orderId": None},
        {"kind": "retry", "status": 422, "sent": 32.0, "answered": 32.5, "code": "IDEMPOTENCY_KEY_REUSED",
         "orderId": None},
    ]}  # fmt: skip


@pytest.mark.parametrize(("kind", "retried_as"), [("original", "retry"), ("reused", "reused")])
def test_a_retried_request_keeps_what_it_is_checked_as(
    kind: str, retried_as: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reused key's request (another body) that met a 504 is retried: the retry must still be refused (422), so it
    is not checked as the original's retry (whose answer is the order's outcome)."""
    answers = iter([504, 422])
    client = chaos.Client("http://api", "key", caller=SimpleNamespace(owner="arn:aws:iam::123456789012:user/u"))  # type: ignore[arg-type]
    monkeypatch.setattr(client, "_post_once", lambda key, body, k: Request(key, body, next(answers), None, k))
    monkeypatch.setattr(chaos.time, "sleep", lambda seconds: None)

    client.post("k-1", {"customerId": "other"}, kind)

    assert [(r.kind, r.status) for r in client.requests] == [(kind, 504), (retried_as, 422)]
