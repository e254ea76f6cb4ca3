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
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import boto3
import pytest

from saga_local.awslambda.invoke_hook import LambdaTarget, run_lambdas_with
from saga_local.core import aws_calls
from saga_local.stepfunctions.inprocess import LocalSaga, deploy_in_process
from saga_local.stepfunctions.timing import RETRY_SCALE_ENV, TIMEOUT_SCALE_ENV
from tests.support.wait import WaitTimeout, wait_for

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

    # ConfirmOrder's timeout is not retried (docs/saga.md, The time budget): the claim's condition finds the order
    # CONFIRMED and that outcome stands.
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
    """CloseOrder retries DynamoDB's throttles only (docs/saga.md, The time budget): a close whose reply was lost is not
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


# A step of one delivery, counted across both: ("store", 1) is the first PutItem of a PENDING order (CreateOrder, or
# StoreClaimedOrder), ("read", 2) the second GetItem of an order, ("ReserveInventory", 1) the first such Lambda step.
Step = tuple[str, int]

_ORDER_CALLS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "UpdateItem": lambda request: "claim" if "#targetOrderId" in request.get("UpdateExpression", "") else None,
    "PutItem": lambda request: "store" if _written_status(request) == "PENDING" else None,
    "GetItem": lambda request: "read" if request["Key"]["orderId"]["S"].startswith("ord_") else None,
}


def deliver_twice(
    saga: LocalSaga, request: dict[str, Any], waits: dict[Step, Step] | None = None
) -> list[dict[str, Any]]:
    """Two deliveries of `request` at once (a duplicate delivery): the first runs alone until it stores its order (so
    its claim of the key comes first), where the second starts. From there, each step in `waits` waits (3 s at most)
    until the step it names has been answered: the interleaving chosen by the test, not by the machine's speed.
    Their StartSyncExecution responses, the first delivery's first."""
    waits = waits or {}
    table_name = saga.stack.refs["OrdersTable"]
    arrived: Counter[str] = Counter()
    answered: set[Step] = set()
    progress = threading.Condition()
    first_storing = threading.Event()
    gave_up: list[Step] = []
    calls: dict[int, Step] = {}  # id(call) -> its step, from the interceptor to the listener

    def kind(call: aws_calls.AwsCall) -> str | None:
        if call.service != "dynamodb" or call.operation not in _ORDER_CALLS:
            return None
        request = _request(call)
        if request.get("TableName") != table_name:
            return None
        return _ORDER_CALLS[call.operation](request)

    def arrive(step_kind: str) -> Step:
        with progress:
            arrived[step_kind] += 1
            step = (step_kind, arrived[step_kind])
            if step == ("store", 1):
                first_storing.set()
            if step in waits and not progress.wait_for(lambda: waits[step] in answered, timeout=3):
                gave_up.append(step)
            return step

    def answer(step: Step) -> None:
        with progress:
            answered.add(step)
            progress.notify_all()

    def before_call(call: aws_calls.AwsCall) -> None:
        if (step_kind := kind(call)) is not None:
            calls[id(call)] = arrive(step_kind)

    def after_call(call: aws_calls.AwsCall, reply: aws_calls.Reply, seconds: float) -> None:
        if (step := calls.pop(id(call), None)) is not None:
            answer(step)

    def invoke(target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        step = arrive(event["action"])
        try:
            return previous(target, event) if previous else saga.runner(target, event)
        finally:
            answer(step)

    responses: list[dict[str, Any]] = [{}, {}]

    def deliver(index: int) -> None:
        responses[index] = saga.start_sync(request)

    previous = run_lambdas_with(invoke)
    removers = [aws_calls.add_interceptor(before_call), aws_calls.add_listener(after_call)]
    try:
        threads = [threading.Thread(target=deliver, args=(index,)) for index in range(2)]
        threads[0].start()
        assert first_storing.wait(timeout=5), "the first delivery did not store an order"
        threads[1].start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for remove in removers:
            remove()
        run_lambdas_with(previous)
    assert gave_up == [], f"{gave_up} waited in vain: the deliveries did not interleave as asked"
    return responses


# The second delivery reads the order the first stored, before the first reserves: both run the saga's steps.
BOTH_RUN_THE_SAGA: dict[Step, Step] = {("read", 1): ("store", 1), ("ReserveInventory", 1): ("read", 1)}

# Where the second delivery's claim of the key falls against the first delivery's CreateOrder, and what each
# delivery answers (201 or 503): every 503 is resolved by the client's retry with the same key.
INTERLEAVINGS: dict[str, tuple[dict[Step, Step], int, int]] = {
    # The order is stored when the second reads it: both run the saga, the steps' idempotency makes it run once.
    "the second reads the stored order": (BOTH_RUN_THE_SAGA, 201, 201),
    # The key is claimed, its order not stored yet: the second stores it too (StoreClaimedOrder), whichever is first
    # the other's write is refused by its condition.
    "the first stores the order first": ({("store", 1): ("read", 1), ("store", 2): ("store", 1)}, 201, 503),
    "the second stores the order first": ({("store", 1): ("store", 2)}, 503, 503),
}


@pytest.mark.parametrize("interleaving", INTERLEAVINGS)
def test_two_concurrent_deliveries_of_one_request_make_one_order(
    saga: LocalSaga, charges: list[str], interleaving: str
) -> None:
    waits, *expected = INTERLEAVINGS[interleaving]
    request = order_input()
    responses = deliver_twice(saga, request, waits)

    answers = [201 if response["status"] == "SUCCEEDED" else 503 for response in responses]
    assert answers == expected, [(r["status"], r.get("error")) for r in responses]
    for response in responses:
        if response["status"] != "SUCCEEDED":
            assert response["error"] == "SERVICE_UNAVAILABLE"  # a 503 that asks for a retry with the same key
    # Each client that was answered 503 retries with its key: the same order, whoever asks.
    answered = [output_of(r if r["status"] == "SUCCEEDED" else saga.start_sync(request)) for r in responses]
    order = answered[0]
    assert order["status"] == "CONFIRMED"
    assert answered[1] == order
    assert [item["orderId"] for item in orders(saga)] == [order["orderId"]]  # one order
    assert order_writes(saga) == [("INSERT", "PENDING", 1), ("MODIFY", "CONFIRMED", 2)]
    assert stock(saga) == (8, 2)  # one reservation
    assert charges == [order["orderId"]]  # one charge
    assert captured_payments(saga) == [f"PAYMENT#{order['orderId']}"]


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
        try:
            wait_for(lambda: any(until(item) for item in orders(saga)), timeout=3, interval=0.01, message="the order")
            released.append("as expected")
        except WaitTimeout:
            released.append("gave up waiting")

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
        responses = deliver_twice(saga, order_input(), BOTH_RUN_THE_SAGA)

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
        responses = deliver_twice(saga, order_input(), BOTH_RUN_THE_SAGA)

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
