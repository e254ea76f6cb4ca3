"""Every path of the saga through the local HTTP API: the same handlers, ASL file and OpenAPI document as on AWS."""

import hashlib
import json
import threading
import time
from decimal import Decimal
from typing import Any

from tests.support.stack import LocalStackHandle
from tests.support.wait import stays, wait_for

PROBLEM_JSON = "application/problem+json"


def _stock(stack: LocalStackHandle, sku: str) -> tuple[int, int]:
    item = stack.table("InventoryTable").get_item(Key={"pk": f"SKU#{sku}"}, ConsistentRead=True)["Item"]
    return int(item["available"]), int(item["reserved"])


def _order(stack: LocalStackHandle, order_id: str) -> dict[str, Any]:
    response = stack.request("GET", f"/orders/{order_id}")
    assert response.status == 200, response.body
    return response.json()


def _assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, response.body
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    return problem


def _payments(stack: LocalStackHandle, order_id: str) -> list[dict[str, Any]]:
    items = stack.table("PaymentsTable").scan()["Items"]
    return [i for i in items if i["pk"] == f"PAYMENT#{order_id}"]


def _billing(stack: LocalStackHandle, order_id: str) -> list[dict[str, Any]]:
    items = stack.table("BillingTable").scan(ConsistentRead=True)["Items"]
    return [i for i in items if i["pk"] == f"ORDER#{order_id}"]


def test_a_confirmed_order_is_priced_from_the_catalog_and_readable(local_stack: LocalStackHandle) -> None:
    available_before, _ = _stock(local_stack, "SKU-1")
    response, _ = local_stack.place_order(("SKU-1", 2), ("SKU-3", 1))
    assert response.status == 201, response.body
    order = response.json()
    assert order["status"] == "CONFIRMED"
    assert [(i["sku"], i["quantity"], i["unitPrice"]) for i in order["items"]] == [
        ("SKU-1", 2, 2499),
        ("SKU-3", 1, 699),
    ]
    assert order["total"] == 2 * 2499 + 699
    assert order["currency"] == "USD"
    assert order["paymentId"]
    assert order["invoiceId"]
    assert _order(local_stack, order["orderId"]) == order
    assert _stock(local_stack, "SKU-1")[0] == available_before - 2
    [billing] = _billing(local_stack, order["orderId"])  # one item: the invoice and its sale, written by BillOrder
    assert (billing["invoiceId"], billing["status"], billing["total"]) == (order["invoiceId"], "ISSUED", order["total"])
    total = order["total"]
    assert [(p["debit"], p["credit"]) for p in billing["sale"]["postings"]] == [(total, 0), (0, total)]


def test_out_of_stock_is_409_and_takes_nothing(local_stack: LocalStackHandle) -> None:
    before = _stock(local_stack, "SKU-7")
    response, _ = local_stack.place_order(("SKU-1", 1), ("SKU-7", before[0] + 1))
    problem = _assert_problem(response, 409, "OUT_OF_STOCK")
    assert "SKU-7" in problem["detail"]
    assert _order(local_stack, problem["orderId"])["status"] == "CANCELLED"
    assert _stock(local_stack, "SKU-7") == before


def test_a_declined_card_is_402_and_the_stock_comes_back(local_stack: LocalStackHandle) -> None:
    before = _stock(local_stack, "SKU-2")
    response, _ = local_stack.place_order(("SKU-2", 1), token="tok_chargeDeclined")
    problem = _assert_problem(response, 402, "PAYMENT_DECLINED")
    order = _order(local_stack, problem["orderId"])
    assert order["status"] == "CANCELLED"
    assert order["failureReason"]["code"] == "PAYMENT_DECLINED"
    assert _stock(local_stack, "SKU-2") == before


def test_a_transient_payment_failure_is_compensated_not_retried(local_stack: LocalStackHandle) -> None:
    """ChargePayment retries only what did not run (throttles, a duplicate in progress: docs/saga.md, time budget):
    the provider's processing error is undone and answered 503, and the client's replay with the key finds the order."""
    before = _stock(local_stack, "SKU-3")
    response, _ = local_stack.place_order(("SKU-3", 1), token="tok_processingError")
    problem = _assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert _order(local_stack, problem["orderId"])["status"] == "CANCELLED"
    assert _stock(local_stack, "SKU-3") == before


def test_retries_exhausted_are_compensated_and_answered_503(local_stack: LocalStackHandle) -> None:
    before = _stock(local_stack, "SKU-4")
    response, _ = local_stack.place_order(("SKU-4", 1), token="tok_unavailable")
    problem = _assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert int(response.headers["Retry-After"]) > 0
    order = _order(local_stack, problem["orderId"])
    assert order["status"] == "CANCELLED"
    assert _stock(local_stack, "SKU-4") == before
    assert all(p["status"] != "CAPTURED" for p in _payments(local_stack, problem["orderId"]))


def test_a_failing_compensation_is_500_and_leaves_the_order_visibly_failed(
    local_stack: LocalStackHandle, faults: Any
) -> None:
    faults([
        {"function": "BillingFunction", "match": {"action": "BillOrder"}, "error": "BillingUnavailable"},
        {"function": "PaymentsFunction", "match": {"action": "RefundPayment"}, "error": "PaymentProviderUnavailable"},
    ])  # fmt: skip
    response, _ = local_stack.place_order(("SKU-5", 1))
    problem = _assert_problem(response, 500, "COMPENSATION_FAILED")
    assert problem["detail"].startswith("The order could not be fully undone and needs manual action.")
    order = _order(local_stack, problem["orderId"])
    assert order["status"] == "COMPENSATION_FAILED"
    assert [c["service"] for c in order["failedCompensations"]] == ["payments"]
    assert [b["status"] for b in _billing(local_stack, problem["orderId"])] == ["VOID"]  # the void's fence
    # The state machine writes the order; the outbox relay counts the failure as it publishes the event.
    log = local_stack.state_dir / "logs" / f"{local_stack.state['functions']['OutboxRelayFunction']}.log"

    def counted() -> bool:
        metrics = [json.loads(line) for line in log.read_text().splitlines() if '"_aws"' in line]
        return any(m.get("CompensationFailures") in ([1.0], 1) for m in metrics)

    wait_for(lambda: log.exists() and counted(), timeout=15, interval=0.2, message="CompensationFailures counted")


def test_replaying_a_request_returns_the_same_order_and_charges_once(local_stack: LocalStackHandle) -> None:
    first, key = local_stack.place_order(("SKU-6", 1))
    available = _stock(local_stack, "SKU-6")
    second, _ = local_stack.place_order(("SKU-6", 1), key=key)
    assert first.status == second.status == 201
    assert second.json() == first.json()
    assert _stock(local_stack, "SKU-6") == available
    assert len(_payments(local_stack, first.json()["orderId"])) == 1


def test_a_replay_of_a_rejected_order_repeats_its_outcome(local_stack: LocalStackHandle) -> None:
    first, key = local_stack.place_order(("SKU-2", 1), token="tok_chargeDeclined")
    second, _ = local_stack.place_order(("SKU-2", 1), token="tok_chargeDeclined", key=key)
    assert first.status == second.status == 402
    assert second.json()["orderId"] == first.json()["orderId"]


def test_the_same_key_with_another_body_is_422(local_stack: LocalStackHandle) -> None:
    _, key = local_stack.place_order(("SKU-1", 1))
    response, _ = local_stack.place_order(("SKU-1", 5), key=key)
    _assert_problem(response, 422, "IDEMPOTENCY_KEY_REUSED")


def test_an_unknown_order_is_404(local_stack: LocalStackHandle) -> None:
    _assert_problem(local_stack.request("GET", "/orders/ord_" + "0" * 64), 404, "ORDER_NOT_FOUND")


def _audit_events(stack: LocalStackHandle, until: Any, timeout: float = 20) -> list[dict[str, Any]]:
    """Read the audit FIFO queue until `until(events)` holds (events stay in the order received)."""
    sqs = stack.client("sqs")
    url = stack.outputs["AuditQueueUrl"]
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(events):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in batch:
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return events


def test_every_order_change_is_published_once_and_in_order(local_stack: LocalStackHandle) -> None:
    confirmed, key = local_stack.place_order(("SKU-1", 1))
    local_stack.place_order(("SKU-1", 1), key=key)  # a replay writes nothing new
    declined, _ = local_stack.place_order(("SKU-2", 1), token="tok_chargeDeclined")
    ids = {confirmed.json()["orderId"], declined.json()["orderId"]}

    def both_finished(events: list[dict[str, Any]]) -> bool:
        finished = {e["orderId"] for e in events if e["type"] in ("order.confirmed", "order.cancelled")}
        return ids <= finished

    events = [e for e in _audit_events(local_stack, both_finished) if e["orderId"] in ids]
    by_order: dict[str, list[str]] = {}
    for event in events:
        by_order.setdefault(event["orderId"], []).append(event["type"])
    assert by_order[confirmed.json()["orderId"]] == ["order.placed", "order.confirmed"]
    assert by_order[declined.json()["orderId"]] == ["order.placed", "order.cancelled"]
    assert len({e["id"] for e in events}) == len(events)


def test_a_poison_stream_record_is_dead_lettered_whole_and_the_rest_goes_through(local_stack: LocalStackHandle) -> None:
    orders = local_stack.table("OrdersTable")
    poison_id = "ord_" + "f" * 64
    orders.put_item(Item={"orderId": poison_id, "status": "PENDING", "version": Decimal(1), "document": "{not json"})
    response, _ = local_stack.place_order(("SKU-3", 1))
    good_id = response.json()["orderId"]

    def good_confirmed(events: list[dict[str, Any]]) -> bool:
        return any(e["orderId"] == good_id and e["type"] == "order.confirmed" for e in events)

    events = _audit_events(local_stack, good_confirmed, timeout=40)
    assert good_confirmed(events)
    assert all(e["orderId"] != poison_id for e in events)
    sqs = local_stack.client("sqs")
    deadline = time.monotonic() + 30
    failures: list[dict[str, Any]] = []
    while not failures and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=local_stack.outputs["OutboxRelayDLQUrl"], WaitTimeSeconds=1)
        failures = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert failures, "the poison record never reached the relay's DLQ"
    [failure] = failures  # the relay sets the record aside whole: no batch exhausted its retries
    assert failure["record"]["dynamodb"]["Keys"] == {"orderId": {"S": poison_id}}
    assert "JSON" in failure["reason"]


def test_an_orders_trace_runs_from_the_api_through_every_step(local_stack: LocalStackHandle) -> None:
    response, _ = local_stack.place_order(("SKU-1", 1))
    order_id = response.json()["orderId"]
    expected = ("ReserveInventory", "ChargePayment", "ConfirmOrder", "DynamoDB")

    def traced() -> str | None:  # segments travel by UDP: the timeline is complete once every one has arrived
        result = local_stack.cli("trace", order_id)
        return result.stdout if result.returncode == 0 and all(name in result.stdout for name in expected) else None

    timeline = wait_for(traced, timeout=30, interval=0.5, message=f"the trace of {order_id} naming {expected}")
    assert "AWS::ApiGateway::Stage" in timeline or "/dev" in timeline


def test_the_cli_lists_orders_and_invokes_functions_like_sam_local_invoke(local_stack: LocalStackHandle) -> None:
    local_stack.place_order(("SKU-1", 1))
    listing = local_stack.cli("orders")
    assert listing.returncode == 0, listing.stderr
    assert "CONFIRMED" in listing.stdout
    invoked = local_stack.cli("invoke", "InventoryFunction", "-e", "events/inventory-release.json")
    assert invoked.returncode == 0, invoked.stdout + invoked.stderr
    assert json.loads(invoked.stdout)["service"] == "inventory"
    unknown = local_stack.cli("invoke", "NoSuchFunction")
    assert unknown.returncode == 2
    assert "InventoryFunction" in unknown.stderr


def test_concurrent_orders_never_oversell(local_stack: LocalStackHandle, tmp_path: Any) -> None:
    """50 orders at once for 5 units of one SKU: exactly 5 confirm."""
    from concurrent.futures import ThreadPoolExecutor

    catalog = tmp_path / "race.json"
    catalog.write_text(json.dumps([{"sku": "SKU-RACE", "name": "Last five", "unitPrice": 100, "currency": "USD",
                                    "stock": 5}]))  # fmt: skip
    seeded = local_stack.cli("seed", str(catalog))
    assert seeded.returncode == 0, seeded.stderr
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: local_stack.place_order(("SKU-RACE", 1))[0].status, range(50)))
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == 45, statuses
    assert _stock(local_stack, "SKU-RACE") == (0, 5)


def test_a_charge_killed_after_the_provider_captured_is_refunded_by_the_compensation(
    local_stack: LocalStackHandle, faults: Any
) -> None:
    """The chaos run's not_undone order, made to happen: ChargePayment's worker is killed (its function's Timeout)
    after the provider captured and before PAYMENT#<order> is written; it is not retried; the compensation's
    RefundPayment finds no payment record. It must still give the money back."""
    key = f"key-{time.time_ns()}"
    caller_arn = local_stack.outputs["Callers"][0]["Arn"]
    key_record = "key_" + hashlib.sha256(json.dumps([caller_arn, key], separators=(",", ":")).encode()).hexdigest()
    orders = local_stack.table("OrdersTable")
    order_id = ""
    payments = local_stack.table("PaymentsTable")
    # Only the payments repository's conditional puts ask for ALL_OLD back (the simulator's capture does not):
    # the charge's record is held past the function's 1 s Timeout (x SAGA_LOCAL_TIMEOUT_SCALE 10, tests/e2e/conftest),
    # so the worker dies before writing it.
    faults([{"service": "dynamodb", "operation": "PutItem", "latencyMs": 12000,
             "match": {"TableName": "*-PaymentsTable", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])  # fmt: skip
    answer: list[Any] = []
    placing = threading.Thread(target=lambda: answer.append(local_stack.place_order(("SKU-7", 1), key=key)[0]))
    placing.start()

    def captured() -> str | None:
        # The order's id is random: the caller's Idempotency-Key record names it once the saga claimed the key.
        claimed = orders.get_item(Key={"orderId": key_record}, ConsistentRead=True).get("Item", {})
        claimed_id = str(claimed.get("targetOrderId", "-"))
        charges = [i for i in payments.scan(ConsistentRead=True)["Items"] if i.get("idempotencyKey") == claimed_id]
        return claimed_id if charges else None

    order_id = wait_for(captured, timeout=30, message="the provider's capture of the charge")
    # The retry fails; the refund's fence is no longer slowed.
    faults([{"function": "PaymentsFunction", "match": {"action": "ChargePayment"}, "error": "ServiceException"}])
    placing.join(60)

    problem = _assert_problem(answer[0], 503, "SERVICE_UNAVAILABLE")
    assert problem["orderId"] == order_id
    assert _order(local_stack, order_id)["status"] == "CANCELLED"

    def refunded() -> bool:
        [charge] = [i for i in payments.scan(ConsistentRead=True)["Items"] if i.get("idempotencyKey") == order_id]
        return (charge["status"], charge.get("refundedAmount")) == ("REFUNDED", charge["amount"])

    # The held record write lands after the fence and is refused by it: nothing signals a refused write, so the
    # refund is checked to hold over the time the held write takes to land.
    stays(refunded, duration=3, message="the refunded charge, fenced against the held write")
    assert [p["status"] for p in _payments(local_stack, order_id)] == ["CANCELLED"]
