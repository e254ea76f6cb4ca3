"""`saga-ops list|retry|resolve`, the operator's tool, against moto in-process: what it shows, what it refuses and why,
and that it changes nothing it should not. (resolve's stored format is not tested here: it is being changed.)"""

import re
from collections.abc import Callable
from typing import Any

import pytest

import saga_ops.cli as cli
from saga_ops import ops
from tests.support.sweep import CALLER, Sweepable

FAILED_PAYMENT = {
    "status": "COMPENSATION_FAILED",
    "failureReason": {"code": "PAYMENT_UNAVAILABLE"},
    "failedCompensations": [{"service": "payments", "error": "PaymentProviderUnavailable"}],
}


@pytest.fixture
def target(sweepable: Sweepable) -> ops.Target:
    return ops.Target(sweepable.orders, sweepable.sfn, sweepable.machine_arn, "test account")


@pytest.fixture
def run_cli(target: ops.Target, monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """`saga-ops ARGS... --local` as the operator types it, on the test's account instead of a local stack."""
    monkeypatch.setattr(ops, "local_target", lambda outputs: target)
    monkeypatch.setattr(cli, "_running_stack", lambda: {"outputs": {}})
    return lambda *args: cli.main([*args, "--local"])


def lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def changed_by_someone_else(sweepable: Sweepable, order_id: str) -> dict[str, Any]:
    """The order's own execution closes it CANCELLED just after the tool read it (once): the order as it left it."""
    closed: dict[str, Any] = {}
    once: list[bool] = []

    def close(**_: Any) -> None:
        if not once:
            once.append(True)
            sweepable.orders.update_item(
                Key={"orderId": order_id}, UpdateExpression="SET #s = :c ADD version :one REMOVE sweep, sweepAt",
                ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":c": "CANCELLED", ":one": 1},
            )  # fmt: skip
            closed.update(sweepable.order(order_id))

    sweepable.orders.meta.client.meta.events.register("after-call.dynamodb.GetItem", close)
    return closed


# ---------------------------------------------------------------- list
def test_list_shows_each_order_in_the_index_with_why(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    stuck = sweepable.put_order("key-ops-stuck1")
    failed = sweepable.put_order("key-ops-failed", status="COMPENSATION_FAILED", attempts=1, document=FAILED_PAYMENT)
    flagged = sweepable.put_order("key-ops-flag01", status="COMPENSATION_FAILED", attempts=3, sweep="FLAGGED",
                                  document=FAILED_PAYMENT)  # fmt: skip
    finished = sweepable.put_order("key-ops-done01", status="CONFIRMED", sweep=None, saved=False)
    queries: list[dict[str, Any]] = []
    sweepable.orders.meta.client.meta.events.register(
        "before-parameter-build.dynamodb", lambda model, params, **_: queries.append({"op": model.name, **params})
    )

    assert run_cli("list") == 0

    listing = {line.split()[0]: line for line in lines(capsys.readouterr().out)[1:]}
    assert set(listing) == {stuck, failed, flagged}  # the finished order is not in the index
    assert re.search(r"PENDING +OPEN +not finished, \d+ s since it started or was last retried \(0 sweep attempt",
                     listing[stuck])  # fmt: skip
    assert listing[failed].endswith(
        "COMPENSATION_FAILED  OPEN     awaiting the sweep's retry (1 attempt(s) so far); failed for "
        "PAYMENT_UNAVAILABLE; compensations failed: payments: PaymentProviderUnavailable"
    )
    assert re.search(r"COMPENSATION_FAILED +FLAGGED +the sweep gave up after 3 attempt\(s\)", listing[flagged])
    assert finished not in listing
    reads = [q for q in queries if q["op"] != "GetItem"]
    assert [(q["op"], q["IndexName"]) for q in reads] == [("Query", "Sweep"), ("Query", "Sweep")]  # never a scan


def test_list_and_retry_all_follow_the_indexs_pages(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {sweepable.put_order(f"key-ops-page{n:02d}", age=100 + n) for n in range(3)}

    def pages_of_one(params: dict[str, Any], **_: Any) -> None:  # DynamoDB ends a page at 1 MB
        params["Limit"] = 1

    sweepable.orders.meta.client.meta.events.register("before-parameter-build.dynamodb.Query", pages_of_one)

    assert run_cli("list") == 0
    assert run_cli("retry", "--all", "--dry-run") == 0

    output = lines(capsys.readouterr().out)
    assert {line.split()[0] for line in output[1:4]} == ids
    assert {line.split(":")[0] for line in output[4:]} == ids


def test_list_says_when_there_is_nothing_to_do(run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("list") == 0
    assert capsys.readouterr().out == "no stuck or failed orders (test account)\n"


# ---------------------------------------------------------------- retry
def test_retry_dry_run_says_what_it_would_do_and_changes_nothing(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    flagged = sweepable.put_order("key-ops-dry001", status="COMPENSATION_FAILED", attempts=3, sweep="FLAGGED")
    stuck = sweepable.put_order("key-ops-dry002")
    before = {order_id: sweepable.order(order_id) for order_id in (flagged, stuck)}

    assert run_cli("retry", flagged, "--dry-run") == 0
    assert run_cli("retry", "--all", "--dry-run") == 0

    would_retry_flagged = f"{flagged}: would run the saga again (COMPENSATION_FAILED, attempt 4) [dry run]"
    would_retry_stuck = f"{stuck}: would run the saga again (PENDING, attempt 1) [dry run]"
    output = lines(capsys.readouterr().out)
    assert output[0] == would_retry_flagged
    assert sorted(output[1:]) == sorted([would_retry_flagged, would_retry_stuck])  # --all: every order in the index
    assert {order_id: sweepable.order(order_id) for order_id in (flagged, stuck)} == before
    assert sweepable.executions() == []


def test_retry_puts_a_flagged_order_back_in_the_sweep_and_runs_its_saga(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    flagged = sweepable.put_order("key-ops-again1", status="COMPENSATION_FAILED", attempts=3, sweep="FLAGGED")

    assert run_cli("retry", flagged) == 0

    [execution] = sweepable.executions()
    assert f"{flagged}: saga running again (attempt 4): {execution['executionArn']}" in capsys.readouterr().out
    recovery = {"orderId": flagged, "attempt": 4, "reason": "COMPENSATION_FAILED", "sweptAt": "-"}
    assert execution["input"]["recovery"] | {"sweptAt": "-"} == recovery
    assert execution["input"]["caller"] == CALLER  # the saga resumes the order as its owner's
    stored = sweepable.order(flagged)
    assert (stored["sweep"], stored["recoveryAttempts"]) == ("OPEN", 4)
    assert stored["sweepAt"] == stored["lastRecoveryAt"] == execution["input"]["recovery"]["sweptAt"]


def test_retry_of_a_finished_order_is_refused_with_why(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    finished = sweepable.put_order("key-ops-fin001", status="CONFIRMED", sweep=None, saved=False)
    before = sweepable.order(finished)

    assert run_cli("retry", finished) == 1

    assert capsys.readouterr().out == (
        f"{finished}: CONFIRMED, nothing to retry (finished, resolved, or no saved request)\n"
    )
    assert sweepable.order(finished) == before
    assert sweepable.executions() == []


def test_retry_of_an_order_that_changed_meanwhile_leaves_it_alone(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    order_id = sweepable.put_order("key-ops-race01", status="COMPENSATION_FAILED", attempts=1)
    closed = changed_by_someone_else(sweepable, order_id)

    assert run_cli("retry", order_id) == 1

    assert capsys.readouterr().out == f"{order_id}: changed meanwhile (now CANCELLED); left alone\n"
    assert sweepable.executions() == []
    assert sweepable.order(order_id) == closed


def test_retry_names_what_is_missing_without_a_stack_trace(
    run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("retry") == 2
    assert run_cli("retry", "ord_x", "--all") == 2
    assert run_cli("retry", "ord_missing") == 2

    err = capsys.readouterr().err
    assert lines(err) == ["error: retry: name one ORDER_ID or --all"] * 2 + ["error: no order ord_missing"]


# ---------------------------------------------------------------- resolve (its refusals only)
def test_resolve_requires_a_note(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    order_id = sweepable.put_order("key-ops-note01", status="COMPENSATION_FAILED", attempts=3, sweep="FLAGGED")
    before = sweepable.order(order_id)

    with pytest.raises(SystemExit) as no_note:
        run_cli("resolve", order_id)
    blank = run_cli("resolve", order_id, "--note", "  ")

    assert no_note.value.code == 2
    assert blank == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: --note" in err
    assert "error: --note: say what was done (it is kept on the order)" in err
    assert "Traceback" not in err
    assert sweepable.order(order_id) == before


def test_resolve_dry_run_and_a_finished_order_change_nothing(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    flagged = sweepable.put_order("key-ops-rdry01", status="COMPENSATION_FAILED", attempts=3, sweep="FLAGGED")
    finished = sweepable.put_order("key-ops-rfin01", status="CANCELLED", sweep=None, saved=False)
    before = {order_id: sweepable.order(order_id) for order_id in (flagged, finished)}

    assert run_cli("resolve", flagged, "--note", "refunded by hand", "--dry-run") == 0
    assert run_cli("resolve", finished, "--note", "refunded by hand") == 1

    assert lines(capsys.readouterr().out) == [
        f"{flagged}: would be marked resolved (COMPENSATION_FAILED) with the note 'refunded by hand' [dry run]",
        f"{finished}: CANCELLED, finished: nothing to resolve",
    ]
    assert {order_id: sweepable.order(order_id) for order_id in (flagged, finished)} == before


def test_resolve_of_an_order_that_changed_meanwhile_leaves_it_alone(
    sweepable: Sweepable, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    order_id = sweepable.put_order("key-ops-rrace1", status="COMPENSATION_FAILED", attempts=3, sweep="FLAGGED")
    closed = changed_by_someone_else(sweepable, order_id)

    assert run_cli("resolve", order_id, "--note", "refunded by hand") == 1

    assert capsys.readouterr().out == f"{order_id}: changed meanwhile (now CANCELLED); left alone\n"
    assert sweepable.order(order_id) == closed  # as its execution left it: the resolution not written
