"""The recovery sweep, end to end on a local stack whose schedule runs twice a second: an order an execution left
unfinished (halted dead after a step, or ended by the machine's own timeout) is driven to a final state by the sweep,
through the same Lambda and state machine as on AWS; a COMPENSATION_FAILED order is retried until it is undone."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from saga_local.launch import launched_stack
from tests.support.stack import LocalStackHandle
from tests.support.wait import stays, wait_for

FINAL = {"CONFIRMED", "CANCELLED", "COMPENSATION_FAILED"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackHandle]:
    settings = {
        "SAGA_LOCAL_FAULTS_FILE": str(tmp_path_factory.mktemp("faults") / "faults.json"),
        "SAGA_LOCAL_RETRY_SCALE": "0.01",
        "SAGA_LOCAL_TIMEOUT_SCALE": "10",
        "SAGA_LOCAL_SCHEDULE_SECONDS": "0.5",  # the sweep's schedule: twice a second instead of every minute
        "SAGA_LOCAL_FUNCTION_ENV_STUCK_AFTER_SECONDS": "3",  # its window: an order is due 3 s after its last attempt
        "SAGA_LOCAL_FUNCTION_ENV_RETRY_BACKOFF_SECONDS": "1",
        "SAGA_LOCAL_FUNCTION_ENV_RETRY_LIMIT": "3",
        "PYTHONUNBUFFERED": "1",
    }
    with launched_stack(settings, timeout=90) as launched:
        yield LocalStackHandle(
            api_url=launched.outputs["LocalApiUrl"], api_key=launched.outputs["ApiKey"],
            endpoint_url=launched.outputs["AwsEndpointUrl"], outputs=launched.outputs,
            state=json.loads((launched.state_dir / "stack.json").read_text()), state_dir=launched.state_dir,
            environment=launched.environment,
        )  # fmt: skip


def set_faults(stack: LocalStackHandle, rules: list[dict[str, Any]]) -> None:
    Path(stack.environment["SAGA_LOCAL_FAULTS_FILE"]).write_text(json.dumps({"faults": rules}))


def order(stack: LocalStackHandle, order_id: str) -> dict[str, Any]:
    return dict(stack.table("OrdersTable").get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item") or {})


def wait_final(stack: LocalStackHandle, order_id: str, timeout: float = 60, want: set[str] = FINAL) -> dict[str, Any]:

    def final() -> dict[str, Any] | None:
        item = order(stack, order_id)
        return (
            item if (item.get("status") in want and "sweep" not in item) or item.get("status") == "CONFIRMED" else None
        )

    return wait_for(final, timeout=timeout, interval=0.5, message=f"{order_id} final ({sorted(want)} or CONFIRMED)")


def events(stack: LocalStackHandle, order_id: str, count: int, timeout: float = 30) -> list[str]:
    """The audit queue's events of the order (deduplicated as the FIFO topic does), once `count` have arrived."""
    sqs, seen, types = stack.client("sqs"), set(), list[str]()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(types) < count:
        for message in sqs.receive_message(QueueUrl=stack.outputs["AuditQueueUrl"], MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):  # fmt: skip
            # Read, then deleted as a consumer does: a FIFO group's next message is held while one is in flight
            # (the 30 s visibility timeout), so an order's second event would wait for its first to reappear.
            sqs.delete_message(QueueUrl=stack.outputs["AuditQueueUrl"], ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            if body["orderId"] == order_id and body["id"] not in seen:
                seen.add(body["id"])
                types.append(body["type"])
    return types


def sweep_runs(stack: LocalStackHandle) -> int:
    """The sweep's invocations finished so far: the REPORT lines of its log, one per invocation as on Lambda."""
    return sum(log.read_text().count("REPORT RequestId") for log in stack.state_dir.rglob("*RecoverySweep*.log"))


def wait_for_sweeps(stack: LocalStackHandle, runs: int, timeout: float = 30) -> None:
    """Until the sweep has run `runs` more times: what a check that it did nothing must wait for."""
    target = sweep_runs(stack) + runs
    wait_for(lambda: sweep_runs(stack) >= target, timeout=timeout, interval=0.2, message=f"{target} runs of the sweep")


def wait_flagged(stack: LocalStackHandle, order_id: str, timeout: float = 90) -> dict[str, Any]:
    """Until the sweep gave up on the order (FLAGGED after its retries)."""
    return wait_for(
        lambda: (item := order(stack, order_id)).get("sweep") == "FLAGGED" and item,
        timeout=timeout,
        interval=0.5,
        message=f"{order_id} flagged by the sweep",
    )


def test_an_order_left_pending_by_a_halted_execution_is_confirmed_by_the_sweep(stack: LocalStackHandle) -> None:
    available = stack.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-4"})["Item"]["available"]
    set_faults(stack, [{"state": "ChargePayment", "fault": "halt"}])  # charged, then the orchestrator went away
    response, key = stack.place_order(("SKU-4", 2))
    order_id = stack.order_id_of(key)
    assert response.status == 500
    halted = order(stack, order_id)
    assert halted["status"] == "PENDING"
    assert halted["sweep"] == "OPEN"
    set_faults(stack, [])

    final = wait_final(stack, order_id)

    assert final["status"] == "CONFIRMED"
    assert final["recoveryAttempts"] == 1  # one execution started by the sweep
    assert not {"sweep", "sweepAt", "savedRequest"} & set(final)  # out of the index, the card token dropped
    stock = stack.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-4"})["Item"]
    assert stock["available"] == available - 2  # taken exactly once
    payments = [p for p in _scan(stack, "PaymentsTable") if p.get("orderId") == order_id and "paymentId" in p]
    assert [p["status"] for p in payments] == ["CAPTURED"]
    assert events(stack, order_id, 2) == ["order.placed", "order.confirmed"]
    # The recovery is in a trace of its own: the sweep's run, its StartExecution, and under it the execution's steps.
    traces = stack.cli("trace", order_id)
    assert traces.returncode == 0, traces.stderr
    recovery = next((t for t in traces.stdout.split("trace ") if "RecoverySweepFunction" in t), "")
    for step in ("ConfirmOrder", "BillOrder", "InventoryFunction"):
        assert step in recovery, traces.stdout
    # A replay of the request now answers the order as the sweep finished it, and changes nothing.
    again, _ = stack.place_order(("SKU-4", 2), key=key)
    assert again.status == 201
    assert again.json()["orderId"] == order_id
    assert order(stack, order_id)["version"] == final["version"]


def test_an_order_whose_execution_timed_out_is_finished_by_the_sweep(stack: LocalStackHandle) -> None:
    set_faults(stack, [{"state": "ReserveInventory", "fault": "timeout"}])
    response, key = stack.place_order(("SKU-3", 1), token="tok_chargeDeclined")
    assert response.status == 504
    set_faults(stack, [])

    final = wait_final(stack, stack.order_id_of(key))

    assert final["status"] == "CANCELLED"
    assert json.loads(final["document"])["failureReason"]["code"] == "PAYMENT_DECLINED"
    reservation = stack.table("InventoryTable").get_item(Key={"pk": f"RESERVATION#{stack.order_id_of(key)}"})["Item"]
    assert reservation["status"] == "RELEASED"
    assert events(stack, stack.order_id_of(key), 2) == ["order.placed", "order.cancelled"]


def test_a_compensation_failed_order_is_retried_until_undone(stack: LocalStackHandle) -> None:
    set_faults(stack, [{"function": "PaymentsFunction", "match": {"action": "RefundPayment"},
                        "error": "PaymentProviderUnavailable"}])  # fmt: skip
    response, key = stack.place_order(("SKU-3", 1), token="tok_unavailable")
    order_id = stack.order_id_of(key)
    assert response.status == 500
    assert response.json()["code"] == "COMPENSATION_FAILED"
    assert order(stack, order_id)["sweep"] == "OPEN"
    set_faults(stack, [])

    final = wait_final(stack, order_id, want={"CANCELLED"})

    assert final["status"] == "CANCELLED"
    assert final["recoveryAttempts"] >= 1
    assert events(stack, order_id, 3) == ["order.placed", "order.compensation_failed", "order.cancelled"]


def test_an_order_the_sweep_cannot_finish_is_flagged_after_its_retries(stack: LocalStackHandle) -> None:
    rules = [
        {"function": "PaymentsFunction", "match": {"action": "RefundPayment"}, "error": "PaymentProviderUnavailable"}
    ]
    set_faults(stack, rules)
    response, key = stack.place_order(("SKU-3", 1), token="tok_unavailable")
    order_id = stack.order_id_of(key)
    assert response.status == 500
    try:
        flagged = wait_flagged(stack, order_id)
    finally:
        set_faults(stack, [])
    assert flagged["sweep"] == "FLAGGED"
    assert flagged["status"] == "COMPENSATION_FAILED"
    assert flagged["recoveryAttempts"] == 3  # RETRY_LIMIT
    wait_for_sweeps(stack, 3)  # three more runs, as many as would each have started an execution
    assert order(stack, order_id)["version"] == flagged["version"]  # no more executions


def _scan(stack: LocalStackHandle, table: str) -> list[dict[str, Any]]:
    return list(stack.table(table).scan(ConsistentRead=True)["Items"])


def saga_ops(stack: LocalStackHandle, *args: str) -> subprocess.CompletedProcess[str]:
    """`saga-ops ARGS... --local` against the test's stack."""
    return subprocess.run(
        [sys.executable, "-m", "saga_ops", *args, "--local"], env=stack.environment, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_the_operator_lists_retries_and_resolves_a_flagged_order(stack: LocalStackHandle) -> None:
    set_faults(stack, [{"function": "PaymentsFunction", "match": {"action": "RefundPayment"},
                        "error": "PaymentProviderUnavailable"}])  # fmt: skip
    _, key = stack.place_order(("SKU-3", 1), token="tok_unavailable")
    order_id = stack.order_id_of(key)
    wait_flagged(stack, order_id)

    listing = saga_ops(stack, "list")
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if order_id in line)
    assert "COMPENSATION_FAILED" in line
    assert "FLAGGED" in line
    assert "the sweep gave up after 3 attempt(s)" in line
    assert "payments: PaymentProviderUnavailable" in line

    version = order(stack, order_id)["version"]
    dry = saga_ops(stack, "retry", order_id, "--dry-run")
    assert dry.returncode == 0
    assert "[dry run]" in dry.stdout
    # Nothing changes: a dry run starts no execution (what a real retry would do at once), checked for a while.
    unchanged = stays(
        lambda: (item := order(stack, order_id)).get("sweep") == "FLAGGED" and item["version"] == version and item,
        duration=2,
        message="the flagged order left alone by a dry run",
    )
    assert unchanged["sweep"] == "FLAGGED"

    resolved = saga_ops(stack, "resolve", order_id, "--note", "refunded by hand, ticket 42")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    item = order(stack, order_id)
    assert "sweep" not in item
    assert "savedRequest" not in item
    view = json.loads(item["document"])
    assert view["status"] == "COMPENSATION_FAILED"  # the status stays; the resolution says what was done
    assert view["resolution"]["note"] == "refunded by hand, ticket 42"
    assert view["resolution"]["statusWhenResolved"] == "COMPENSATION_FAILED"
    assert events(stack, order_id, 3) == ["order.placed", "order.compensation_failed", "order.resolved"]
    again = saga_ops(stack, "resolve", order_id, "--note", "again")
    assert again.returncode == 1
    assert "nothing to resolve" in again.stdout
    set_faults(stack, [])


def test_the_operator_retry_leaves_a_finished_order_alone(stack: LocalStackHandle) -> None:
    response, key = stack.place_order(("SKU-3", 1))
    assert response.status == 201
    result = saga_ops(stack, "retry", stack.order_id_of(key))
    assert result.returncode == 1
    assert "CONFIRMED, nothing to retry" in result.stdout
    bad = saga_ops(stack, "retry")
    assert bad.returncode == 2
    assert "name one ORDER_ID or --all" in bad.stderr
    assert "Traceback" not in bad.stderr
