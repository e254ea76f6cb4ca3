"""The order record is written once per Idempotency-Key, whatever is repeated: the real ASL in moto's interpreter,
the real handlers, moto's tables (saga_local.stepfunctions.inprocess).

The orchestrator writes the record itself (CreateOrder, ConfirmOrder, CloseOrder: DynamoDB integrations with
conditions, docs/saga-steps.md). Each test repeats something a client or AWS may repeat: a replay after success, a
write that landed but whose reply was lost (so Step Functions retries it), two deliveries of the same request at
once, the key reused with another body; and checks what a user relies on: one order, one reservation, one charge,
the same answer.
"""

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import boto3
import pytest

from saga_local import aws_calls
from saga_local.awslambda.invoke_hook import LambdaTarget, run_lambdas_with
from saga_local.stepfunctions.inprocess import LocalSaga, deploy_in_process
from saga_local.stepfunctions.timing import RETRY_SCALE_ENV, TIMEOUT_SCALE_ENV

MUG = {"name": "Mug", "unitPrice": 1299, "currency": "EUR", "available": 10}
LOST_REPLY = {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "reply lost (injected)"}


@pytest.fixture
def saga(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSaga]:
    monkeypatch.setenv(RETRY_SCALE_ENV, "0.01")  # the ASL's 1-2 s retry waits take 10-20 ms
    # Tasks get 5 s instead of 1: a step slowed by a busy test machine must not add a timeout to the fault tested.
    monkeypatch.setenv(TIMEOUT_SCALE_ENV, "5")
    local = deploy_in_process()
    local.table("InventoryTable").put_item(Item={"pk": "SKU#SKU-MUG", "sku": "SKU-MUG", **MUG, "reserved": 0})
    yield local
    local.close()


@pytest.fixture
def steps(saga: LocalSaga) -> Iterator[list[str]]:
    """The `action` of every Lambda step invoked, in order."""
    actions: list[str] = []

    def record(target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        actions.append(event.get("action"))
        return saga.runner(target, event)

    previous = run_lambdas_with(record)
    yield actions
    run_lambdas_with(previous)


@pytest.fixture
def charges(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The idempotency key of every charge asked of the payment provider (the simulator)."""
    from payments.simulator import SimulatedProvider

    asked: list[str] = []
    charge = SimulatedProvider.charge

    def counted(self: SimulatedProvider, idempotency_key: str, token: str, amount: int, currency: str) -> str:
        asked.append(idempotency_key)
        return charge(self, idempotency_key, token, amount, currency)

    monkeypatch.setattr(SimulatedProvider, "charge", counted)
    return asked


CALLER = "arn:aws:iam::123456789012:user/storefront"


def order_input(quantity: int = 2, token: str = "tok_visa", key: str = "", caller: str = CALLER) -> dict[str, Any]:
    return {
        "idempotencyKey": key or str(uuid.uuid4()),
        "caller": caller,
        "request": {
            "customerId": "cus_1",
            "items": [{"sku": "SKU-MUG", "quantity": quantity}],
            "payment": {"token": token},
        },
    }


def output_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["status"] == "SUCCEEDED", {k: response.get(k) for k in ("status", "error", "cause")}
    return json.loads(response["output"])


def orders(saga: LocalSaga) -> list[dict[str, Any]]:
    """The order items (the Idempotency-Key records beside them left out)."""
    items = saga.table("OrdersTable").scan(ConsistentRead=True)["Items"]
    return [item for item in items if item["orderId"].startswith("ord_")]


def order_writes(saga: LocalSaga) -> list[tuple[str, str, Decimal]]:
    """What the orders table's stream holds (the outbox relay's input): (event, status, version) per write."""
    streams = boto3.client("dynamodbstreams", region_name=saga.stack.region)
    arn = saga.table("OrdersTable").latest_stream_arn
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    records = [r for r in records if r["dynamodb"]["Keys"]["orderId"]["S"].startswith("ord_")]
    return [
        (r["eventName"], r["dynamodb"]["NewImage"]["status"]["S"], Decimal(r["dynamodb"]["NewImage"]["version"]["N"]))
        for r in records
    ]


def stock(saga: LocalSaga) -> tuple[Decimal, Decimal]:
    item = saga.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-MUG"}, ConsistentRead=True)["Item"]
    return item["available"], item["reserved"]


def captured_payments(saga: LocalSaga) -> list[str]:
    items = saga.table("PaymentsTable").scan(ConsistentRead=True)["Items"]
    return [item["pk"] for item in items if item["pk"].startswith("PAYMENT#") and item["status"] == "CAPTURED"]


def _request(call: aws_calls.AwsCall) -> dict[str, Any]:
    body = call.handler.body  # the JSON text; moto's DynamoDB handler parses it in place once it ran
    return body if isinstance(body, dict) else json.loads(body)


def _written_status(request: dict[str, Any]) -> str | None:
    """The order status a PutItem or UpdateItem of the orders table writes."""
    if "Item" in request:  # an Idempotency-Key record has no status
        return request["Item"].get("status", {}).get("S")
    return request.get("ExpressionAttributeValues", {}).get(":status", {}).get("S")


@contextmanager
def reply_lost(saga: LocalSaga, operation: str, status: str) -> Iterator[list[str]]:
    """The first `operation` on the orders table writing `status` lands (moto runs it), then answers a 500, as a
    reply lost on the way back: whoever made the call retries a write that already happened. Yields what each
    such call did: "landed, reply lost", then the outcome of every retry ("ok" or the DynamoDB error)."""
    table_name = saga.stack.refs["OrdersTable"]
    writes: list[str] = []

    def matches(call: aws_calls.AwsCall) -> bool:
        if (call.service, call.operation) != ("dynamodb", operation):
            return False
        request = _request(call)
        return request.get("TableName") == table_name and _written_status(request) == status

    def intercept(call: aws_calls.AwsCall) -> aws_calls.Reply | None:
        if writes or not matches(call):
            return None
        call.handler.call_action()
        writes.append("landed, reply lost")
        return 500, {"x-amzn-RequestId": str(uuid.uuid4())}, json.dumps(LOST_REPLY)

    def watch(call: aws_calls.AwsCall, reply: aws_calls.Reply, seconds: float) -> None:
        if matches(call):
            writes.append("ok" if reply[0] == 200 else json.loads(reply[2])["__type"].rpartition("#")[2])

    removers = [aws_calls.add_interceptor(intercept), aws_calls.add_listener(watch)]
    try:
        yield writes
    finally:
        for remove in removers:
            remove()


# ---------------------------------------------------------------- replay after success


def test_replay_after_success_answers_the_same_order_written_once(
    saga: LocalSaga, steps: list[str], charges: list[str]
) -> None:
    request = order_input(key="replay-after-success")
    first = output_of(saga.start_sync(request))
    second = output_of(saga.start_sync(request))

    assert first["status"] == "CONFIRMED"
    assert second == first  # the same 201 body
    assert [item["orderId"] for item in orders(saga)] == [first["orderId"]]
    assert order_writes(saga) == [("INSERT", "PENDING", 1), ("MODIFY", "CONFIRMED", 2)]
    assert steps == ["ReserveInventory", "ChargePayment", "BillOrder"]  # the replay ran no step
    assert charges == [first["orderId"]]
    assert stock(saga) == (8, 2)


# ---------------------------------------------------------------- the write landed, its reply was lost


def test_create_order_landed_but_reply_lost_resumes_the_same_order(
    saga: LocalSaga, steps: list[str], charges: list[str]
) -> None:
    request = order_input()
    with reply_lost(saga, "PutItem", "PENDING") as writes:
        first = saga.start_sync(request)
    # CreateOrder is neither retried nor read after (the time budget): 503, and nothing else was done...
    assert writes == ["landed, reply lost"]
    assert (first["status"], first["error"]) == ("FAILED", "SERVICE_UNAVAILABLE")
    assert steps == []
    # ... the client's retry with the key finds the order its key record names, PENDING, and its saga goes on.
    order = output_of(saga.start_sync(request))
    assert order["status"] == "CONFIRMED"
    assert [item["orderId"] for item in orders(saga)] == [order["orderId"]]
    assert order_writes(saga) == [("INSERT", "PENDING", 1), ("MODIFY", "CONFIRMED", 2)]
    assert steps == ["ReserveInventory", "ChargePayment", "BillOrder"]
    assert charges == [order["orderId"]]
    assert stock(saga) == (8, 2)


def test_confirm_order_landed_but_reply_lost_answers_201_without_compensating(
    saga: LocalSaga, steps: list[str], charges: list[str]
) -> None:
    with reply_lost(saga, "UpdateItem", "CONFIRMED") as writes:
        order = output_of(saga.start_sync(order_input()))

    # ConfirmOrder's timeout is not retried (README, The time budget): the claim's condition finds the order CONFIRMED
    # and that outcome stands.
    assert writes == ["landed, reply lost"]
    assert order["status"] == "CONFIRMED"
    (stored,) = orders(saga)
    assert (stored["status"], stored["version"]) == ("CONFIRMED", 2)
    assert json.loads(stored["document"]) == order
    assert order_writes(saga) == [("INSERT", "PENDING", 1), ("MODIFY", "CONFIRMED", 2)]
    assert steps == ["ReserveInventory", "ChargePayment", "BillOrder"]  # no VoidInvoice, RefundPayment, Release
    assert charges == [order["orderId"]]
    assert captured_payments(saga) == [f"PAYMENT#{order['orderId']}"]  # not refunded
    assert stock(saga) == (8, 2)


def test_close_order_landed_but_reply_lost_keeps_the_outcome_written(saga: LocalSaga, steps: list[str]) -> None:
    """CloseOrder retries DynamoDB's throttles only (README, The time budget): a close whose reply was lost is not
    retried, so the execution answers 500 for someone to look, and the outcome it wrote stands, written once."""
    with reply_lost(saga, "UpdateItem", "CANCELLED") as writes:
        result = saga.start_sync(order_input(token="tok_chargeDeclined"))

    assert writes == ["landed, reply lost"]
    assert (result["status"], result["error"]) == ("FAILED", "COMPENSATION_FAILED"), result
    (stored,) = orders(saga)
    assert (stored["status"], stored["version"]) == ("CANCELLED", 2)
    assert json.loads(stored["document"])["failureReason"]["code"] == "PAYMENT_DECLINED"
    # ClaimCompensation's mark (compensatingSince) is a write too; it leaves status and version as they are.
    assert order_writes(saga) == [("INSERT", "PENDING", 1), ("MODIFY", "PENDING", 1), ("MODIFY", "CANCELLED", 2)]
    assert "compensatingSince" in stored
    assert steps == ["ReserveInventory", "ChargePayment", "ReleaseInventory"]
    assert stock(saga) == (10, 0)


# ---------------------------------------------------------------- duplicate delivery


def deliver_twice(saga: LocalSaga, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Two executions of `request` at once (a duplicate delivery): both reach CreateOrder before either writes.
    Their StartSyncExecution responses, in the order they finished."""
    both_creating = threading.Barrier(2, timeout=3)
    table_name = saga.stack.refs["OrdersTable"]

    def meet(call: aws_calls.AwsCall) -> None:
        if (call.service, call.operation) == ("dynamodb", "PutItem") and _request(call)["TableName"] == table_name:
            both_creating.wait()

    responses: list[dict[str, Any]] = []
    remove = aws_calls.add_interceptor(meet)
    try:
        threads = [threading.Thread(target=lambda: responses.append(saga.start_sync(request))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        remove()
    assert not both_creating.broken, "the two executions did not overlap"
    return responses


def test_two_concurrent_deliveries_of_one_request_make_one_order(saga: LocalSaga, charges: list[str]) -> None:
    first, second = (output_of(response) for response in deliver_twice(saga, order_input()))

    assert first["status"] == "CONFIRMED"
    assert second == first
    assert [item["orderId"] for item in orders(saga)] == [first["orderId"]]
    assert order_writes(saga) == [("INSERT", "PENDING", 1), ("MODIFY", "CONFIRMED", 2)]
    assert stock(saga) == (8, 2)
    assert charges == [first["orderId"]]
    assert captured_payments(saga) == [f"PAYMENT#{first['orderId']}"]


def _is_claim(request: dict[str, Any]) -> bool:
    """ClaimCompensation's UpdateItem: the mark a compensating execution writes before undoing anything."""
    return "#compensatingSince = if_not_exists" in str(request.get("UpdateExpression", ""))


def _is_confirmation(request: dict[str, Any]) -> bool:
    return _written_status(request) == "CONFIRMED"


@contextmanager
def held(
    saga: LocalSaga, write: Callable[[dict[str, Any]], bool], until: Callable[[dict[str, Any]], bool]
) -> Iterator[list[str]]:
    """An UpdateItem of the orders table that `write` matches waits (3 s at most) until the stored order satisfies
    `until`, then runs: the interleaving of two executions decided by the test, not by the machine's speed. Yields
    what each held write found when it went on ("as expected" or "gave up waiting")."""
    table_name = saga.stack.refs["OrdersTable"]
    released: list[str] = []

    def hold(call: aws_calls.AwsCall) -> None:
        if (call.service, call.operation) != ("dynamodb", "UpdateItem"):
            return
        request = _request(call)
        if request.get("TableName") != table_name or not write(request):
            return
        deadline = time.monotonic() + 3
        while not any(until(item) for item in orders(saga)) and time.monotonic() < deadline:
            time.sleep(0.01)
        released.append("as expected" if any(until(item) for item in orders(saga)) else "gave up waiting")

    remove = aws_calls.add_interceptor(hold)
    try:
        yield released
    finally:
        remove()


@contextmanager
def second_charge_in_progress(saga: LocalSaga) -> Iterator[None]:
    """On AWS, the second delivery's ChargePayment finds the first one's Powertools record IN_PROGRESS and fails
    (IdempotencyAlreadyInProgressError) through its retry, then goes to compensate. Here: every ChargePayment after
    the first fails so."""
    charged: list[str] = []

    def deliver(target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        if event["action"] == "ChargePayment":
            charged.append(event["orderId"])
            if len(charged) > 1:
                return None, {"errorType": "IdempotencyAlreadyInProgressError", "errorMessage": "in progress"}
        return saga.runner(target, event)

    previous = run_lambdas_with(deliver)
    try:
        yield
    finally:
        run_lambdas_with(previous)


def test_a_duplicate_delivery_that_fails_leaves_the_confirmed_order_alone(saga: LocalSaga) -> None:
    """The failing delivery reaches ClaimCompensation once the other delivery has confirmed the order: the claim's
    condition finds it CONFIRMED, so the failing delivery answers that order (201) and undoes nothing, where it used
    to refund, release and cancel it (docs/saga-steps.md, "Two deliveries of one request")."""
    with second_charge_in_progress(saga), held(saga, _is_claim, lambda item: item["status"] == "CONFIRMED") as claims:
        responses = deliver_twice(saga, order_input())

    assert claims == ["as expected"]  # the claim was made after the confirmation
    first, second = (output_of(response) for response in responses)
    assert first["status"] == "CONFIRMED"  # both clients are answered 201...
    assert second == first  # ...with the same order
    (stored,) = orders(saga)
    assert (stored["status"], stored["version"]) == ("CONFIRMED", 2)  # ...which stays confirmed
    assert "compensatingSince" not in stored  # never marked
    assert json.loads(stored["document"]) == first
    assert captured_payments(saga) == [f"PAYMENT#{first['orderId']}"]  # and paid
    assert stock(saga) == (8, 2)


def test_a_duplicate_delivery_that_claims_first_stops_the_other_from_confirming(saga: LocalSaga) -> None:
    """The other interleaving: the failing delivery claims the order while it is PENDING, before the other delivery
    confirms it. ConfirmOrder's condition (attribute_not_exists(#compensatingSince)) refuses the marked order, that
    delivery finds it PENDING and compensates too: no client is told 201 for an order that is then undone."""
    with (
        second_charge_in_progress(saga),
        held(saga, _is_confirmation, lambda item: "compensatingSince" in item) as confirmations,
    ):
        responses = deliver_twice(saga, order_input())

    assert confirmations == ["as expected"]  # ConfirmOrder was tried after the claim
    assert [(r["status"], r.get("error")) for r in responses] == [("FAILED", "SERVICE_UNAVAILABLE")] * 2  # 503 twice
    (stored,) = orders(saga)
    assert stored["status"] == "CANCELLED"
    assert "compensatingSince" in stored
    assert json.loads(stored["document"])["failureReason"]["code"] == "SERVICE_UNAVAILABLE"
    assert captured_payments(saga) == []  # refunded
    assert stock(saga) == (10, 0)  # released


# ---------------------------------------------------------------- the key reused with another body


def test_same_key_with_another_body_is_refused_and_the_first_order_untouched(
    saga: LocalSaga, steps: list[str], charges: list[str]
) -> None:
    first = output_of(saga.start_sync(order_input(quantity=1, key="reused-key")))
    (before,) = orders(saga)

    outcome = output_of(saga.start_sync(order_input(quantity=5, key="reused-key")))

    assert outcome["code"] == "IDEMPOTENCY_KEY_REUSED"  # HTTP 422 (tests/api/test_response_mapping.py)
    assert orders(saga) == [before]
    assert json.loads(before["document"]) == first
    assert order_writes(saga) == [("INSERT", "PENDING", 1), ("MODIFY", "CONFIRMED", 2)]
    assert steps == ["ReserveInventory", "ChargePayment", "BillOrder"]  # the second request ran no step
    assert charges == [first["orderId"]]
    assert stock(saga) == (9, 1)


# ---------------------------------------------------------------- callers, keys and order ids


def test_the_same_key_from_two_callers_makes_two_orders_each_replayable(saga: LocalSaga, charges: list[str]) -> None:
    other = "arn:aws:sts::123456789012:assumed-role/back-office"
    mine = output_of(saga.start_sync(order_input(quantity=1, key="cart-123-checkout")))
    theirs = output_of(saga.start_sync(order_input(quantity=1, key="cart-123-checkout", caller=other)))

    assert mine["status"] == theirs["status"] == "CONFIRMED"
    assert mine["orderId"] != theirs["orderId"]
    owners = {item["orderId"]: item["caller"] for item in orders(saga)}
    assert owners == {mine["orderId"]: CALLER, theirs["orderId"]: other}
    # Each caller's replay finds its own order, never the other's.
    assert output_of(saga.start_sync(order_input(quantity=1, key="cart-123-checkout", caller=other))) == theirs
    assert output_of(saga.start_sync(order_input(quantity=1, key="cart-123-checkout"))) == mine
    assert sorted(charges) == sorted([mine["orderId"], theirs["orderId"]])


def test_the_order_id_cannot_be_computed_from_the_key(saga: LocalSaga) -> None:
    import hashlib

    key = "predictable-key-1"
    order = output_of(saga.start_sync(order_input(key=key)))
    keyed = hashlib.sha256(key.encode()).hexdigest()
    scoped = hashlib.sha256(json.dumps([CALLER, key], separators=(",", ":")).encode()).hexdigest()
    assert order["orderId"] not in {f"ord_{keyed}", f"ord_{scoped}"}
    assert order["orderId"].removeprefix("ord_") != keyed
    # The Idempotency-Key record is what a replay finds the order by: SHA-256 of [caller, key], never served.
    record = saga.table("OrdersTable").get_item(Key={"orderId": f"key_{scoped}"}, ConsistentRead=True)["Item"]
    assert record["targetOrderId"] == order["orderId"]
    assert record["caller"] == CALLER
    assert set(record) == {"orderId", "targetOrderId", "caller", "requestHash", "createdAt"}  # no card token


def test_a_claimed_key_whose_order_was_never_written_gets_it_on_retry(saga: LocalSaga, charges: list[str]) -> None:
    table_name = saga.stack.refs["OrdersTable"]
    refused: list[str] = []

    def refuse_first_order_write(call: aws_calls.AwsCall) -> aws_calls.Reply | None:
        if refused or (call.service, call.operation) != ("dynamodb", "PutItem"):
            return None
        request = _request(call)
        if request.get("TableName") != table_name or _written_status(request) != "PENDING":
            return None
        refused.append(request["Item"]["orderId"]["S"])  # not written: the execution stops between the two writes
        return 500, {"x-amzn-RequestId": str(uuid.uuid4())}, json.dumps(LOST_REPLY)

    remove = aws_calls.add_interceptor(refuse_first_order_write)
    try:
        request = order_input(key="claimed-then-stopped")
        first = saga.start_sync(request)
    finally:
        remove()
    assert (first["status"], first["error"]) == ("FAILED", "SERVICE_UNAVAILABLE")
    assert orders(saga) == []

    # The retry finds the key claimed and no order: it stores the order under the claimed id, and asks for a retry
    # (the time budget holds no third DynamoDB call before the forward steps), which places it.
    second = saga.start_sync(request)
    assert (second["status"], second["error"]) == ("FAILED", "SERVICE_UNAVAILABLE")
    assert [item["orderId"] for item in orders(saga)] == refused
    order = output_of(saga.start_sync(request))
    assert order["status"] == "CONFIRMED"
    assert order["orderId"] == refused[0]  # the id the key was claimed for
    assert charges == [order["orderId"]]
