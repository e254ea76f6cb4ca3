"""The orders service through its handler, as the state machine calls it: create, confirm, close.

Every step may run more than once (Step Functions retries, a client replays its request): each test
of a write also checks that a repeat changes nothing, with and without the Powertools record.
"""

import hashlib
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from orders import repository, service
from orders.errors import IdempotencyKeyReused, InvalidOrder, OrderNotPending
from orders.handler import lambda_handler
from orders.service import MAX_LINES, REJECTED_DETAIL, SERVICE_UNAVAILABLE_DETAIL, hash_request
from saga_common.errors import InvalidCommand
from saga_common.observability import logger, metrics

from tests.conftest import LocalAws, read_event

TOKEN = "tok_visa_4242_do_not_keep"  # distinctive, so any copy of it is found


@pytest.fixture(autouse=True)
def _service_dimension_as_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    # template.yaml sets POWERTOOLS_SERVICE_NAME=orders, and the CompensationFailures alarm filters on it.
    monkeypatch.setattr(metrics, "service", "orders")


@pytest.fixture
def pending(aws: LocalAws, lambda_context: Any) -> dict[str, Any]:
    """The order of events/orders-create.json, placed and waiting for the rest of the saga."""
    return lambda_handler(read_event("orders-create.json"), lambda_context)


def create_event(**request_changes: Any) -> dict[str, Any]:
    event = read_event("orders-create.json")
    event["request"] |= {"payment": {"token": TOKEN}} | request_changes
    return event


def close_event(
    error: str, cause: str | None = None, compensations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    event = read_event("orders-close.json")
    event["failure"] = {"Error": error, "Cause": cause} if cause is not None else {"Error": error}
    if compensations is not None:
        event["compensations"] = compensations
    return event


def lambda_error_cause(error: str, message: str) -> str:
    """A Step Functions catch's Cause for a Python Lambda error: JSON with a stack trace."""
    trace = ['  File "/var/task/saga_common/handler.py", line 35, in handler\n']
    return json.dumps({"errorMessage": message, "errorType": error, "requestId": "r-1", "stackTrace": trace})


def stored(aws: LocalAws, order_id: str) -> dict[str, Any]:
    return aws.table("OrdersTable").get_item(Key={"orderId": order_id}, ConsistentRead=True)["Item"]


def stored_items(aws: LocalAws) -> list[dict[str, Any]]:
    return aws.table("OrdersTable").scan(ConsistentRead=True)["Items"]


def forget_idempotency_records(aws: LocalAws) -> None:
    """What the idempotency table's TTL does after an hour."""
    table = aws.table("IdempotencyTable")
    for item in table.scan(ConsistentRead=True)["Items"]:
        table.delete_item(Key={"id": item["id"]})


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The CloudWatch EMF blobs printed so far: one per flush, one per single_metric."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def values(blobs: list[dict[str, Any]], name: str) -> list[float]:
    return [value for blob in blobs for value in blob.get(name, [])]


# ---------------------------------------------------------------- create
def test_create_places_a_pending_order_derived_from_the_idempotency_key(aws: LocalAws, lambda_context: Any) -> None:
    event = read_event("orders-create.json")

    order = lambda_handler(event, lambda_context)

    assert order == {
        "orderId": "ord_" + hashlib.sha256(event["idempotencyKey"].encode()).hexdigest()[:26],
        "status": "PENDING",
        "customerId": "cust-1042",
        "items": [{"sku": "SKU-MUG", "quantity": 2}, {"sku": "SKU-TEE", "quantity": 1}],
        "total": None,
        "currency": None,
        "paymentId": None,
        "invoiceId": None,
        "failureReason": None,
        "failedCompensations": [],
        "createdAt": order["createdAt"],
        "updatedAt": order["createdAt"],
    }
    [item] = stored_items(aws)
    # GET /orders/{id} returns `document` verbatim: it must be the very view the saga answered.
    assert json.loads(item["document"]) == order
    assert (item["orderId"], item["status"], item["version"]) == (order["orderId"], "PENDING", 1)
    assert item["updatedAt"] == order["updatedAt"]
    assert item["requestHash"] == hash_request(event["request"])


def test_a_replay_with_the_same_body_answers_the_same_order_and_writes_nothing(
    aws: LocalAws, lambda_context: Any
) -> None:
    first = lambda_handler(create_event(), lambda_context)
    [before] = stored_items(aws)

    again = lambda_handler(create_event(), lambda_context)
    forget_idempotency_records(aws)
    late = lambda_handler(create_event(), lambda_context)

    assert again == late == first
    assert stored_items(aws) == [before]


def test_a_replay_answers_the_order_as_it_is_now_not_as_it_was_placed(aws: LocalAws, lambda_context: Any) -> None:
    """The state machine routes a replay by the order's status: a stale PENDING would run the saga again."""
    placed = lambda_handler(create_event(), lambda_context)
    lambda_handler(read_event("orders-close.json"), lambda_context)

    again = lambda_handler(create_event(), lambda_context)

    assert again["orderId"] == placed["orderId"]
    assert again["status"] == "CANCELLED"
    assert again["failureReason"]["code"] == "PAYMENT_DECLINED"


def test_the_same_key_with_another_body_is_refused(aws: LocalAws, lambda_context: Any) -> None:
    first = lambda_handler(create_event(), lambda_context)
    other_body = create_event(items=[{"sku": "SKU-MUG", "quantity": 3}])

    with pytest.raises(IdempotencyValidationError):  # by Powertools, while its record lives
        lambda_handler(other_body, lambda_context)
    forget_idempotency_records(aws)
    with pytest.raises(IdempotencyKeyReused, match="already used with a different request body"):
        lambda_handler(other_body, lambda_context)  # by the stored request hash, after

    assert [json.loads(item["document"]) for item in stored_items(aws)] == [first]


def test_a_duplicate_sku_is_refused_naming_the_line(aws: LocalAws, lambda_context: Any) -> None:
    items = [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-1", "quantity": 2}]

    with pytest.raises(InvalidOrder) as refused:
        lambda_handler(create_event(items=items), lambda_context)

    assert str(refused.value) == "items[1].sku: SKU-1 appears more than once; send one line per SKU"
    assert stored_items(aws) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customerId": "  "}, "customerId: "),
        ({"items": []}, "items: "),
        ({"items": [{"sku": f"SKU-{n}", "quantity": 1} for n in range(MAX_LINES + 1)]}, "items: "),
        ({"items": [{"sku": "SKU-1", "quantity": 1}, {"sku": "", "quantity": 1}]}, "items[1].sku: "),
        ({"items": [{"sku": "SKU-1", "quantity": 0}]}, "items[0].quantity: "),
        ({"items": [{"sku": "SKU-1", "quantity": "2"}]}, "items[0].quantity: "),
        ({"items": [{"sku": "SKU-1", "quantity": True}]}, "items[0].quantity: "),
        ({"items": ["SKU-1"]}, "items[0]: "),
        ({"payment": {"token": ""}}, "payment.token: "),
    ],
)
def test_an_invalid_request_is_refused_naming_the_field(
    aws: LocalAws, lambda_context: Any, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidOrder) as refused:
        lambda_handler(create_event(**change), lambda_context)

    assert str(refused.value).startswith(field)
    assert stored_items(aws) == []


def test_an_order_may_have_as_many_lines_as_inventory_reserves_at_once(aws: LocalAws, lambda_context: Any) -> None:
    items = [{"sku": f"SKU-{n}", "quantity": 1} for n in range(MAX_LINES)]

    assert len(lambda_handler(create_event(items=items), lambda_context)["items"]) == MAX_LINES


def test_a_missing_idempotency_key_is_an_invalid_order(aws: LocalAws, lambda_context: Any) -> None:
    event = create_event()
    del event["idempotencyKey"]

    with pytest.raises(InvalidOrder, match=r"^idempotencyKey: "):
        lambda_handler(event, lambda_context)


def test_different_keys_make_different_orders(aws: LocalAws, lambda_context: Any) -> None:
    other = create_event()
    other["idempotencyKey"] = "another-key"

    first = lambda_handler(create_event(), lambda_context)
    second = lambda_handler(other, lambda_context)

    assert first["orderId"] != second["orderId"]
    assert len(stored_items(aws)) == 2


def test_the_payment_token_is_never_stored_nor_logged(
    aws: LocalAws, lambda_context: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    lambda_handler(create_event(), lambda_context)
    lambda_handler(create_event(), lambda_context)  # replay
    forget_idempotency_records(aws)
    with pytest.raises(IdempotencyKeyReused):
        lambda_handler(create_event(customerId="cust-2"), lambda_context)
    with pytest.raises(InvalidOrder):
        lambda_handler(create_event(items=[{"sku": "SKU-1", "quantity": 0}]), lambda_context)

    # The table's stream images are its items: what is not stored is not published either.
    assert TOKEN not in json.dumps(stored_items(aws), default=str)
    # Each log record as the Powertools formatter writes it to CloudWatch, exceptions included.
    lines = [logger.registered_formatter.format(record) for record in caplog.records]
    assert any('"message":"order placed"' in line for line in lines)
    assert any('"message":"step refused"' in line for line in lines)
    assert not [line for line in lines if TOKEN in line]
    printed = capsys.readouterr()
    assert TOKEN not in printed.out + printed.err


# ---------------------------------------------------------------- confirm
def test_confirm_stores_the_priced_order_with_its_payment_and_invoice(
    pending: dict[str, Any], aws: LocalAws, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    command = read_event("orders-confirm.json")
    capsys.readouterr()

    order = lambda_handler(command, lambda_context)

    assert order == pending | {
        "status": "CONFIRMED",
        "items": command["items"],
        "total": 4499,
        "currency": "EUR",
        "paymentId": "pay_5d1f0c7e9a2b4c68",
        "invoiceId": "inv_2026_000187",
        "updatedAt": order["updatedAt"],
    }
    assert order["updatedAt"] >= pending["updatedAt"]
    item = stored(aws, order["orderId"])
    assert json.loads(item["document"]) == order
    assert (item["status"], item["version"], item["updatedAt"]) == ("CONFIRMED", 2, order["updatedAt"])
    assert values(emitted_metrics(capsys), "OrdersConfirmed") == [1]


def test_a_retried_confirm_answers_the_confirmed_order_and_counts_it_once(
    pending: dict[str, Any], aws: LocalAws, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first = lambda_handler(read_event("orders-confirm.json"), lambda_context)

    again = lambda_handler(read_event("orders-confirm.json"), lambda_context)
    forget_idempotency_records(aws)
    late = lambda_handler(read_event("orders-confirm.json"), lambda_context)

    assert again == late == first
    assert stored(aws, first["orderId"])["version"] == 2
    assert values(emitted_metrics(capsys), "OrdersConfirmed") == [1]


def test_a_cancelled_order_cannot_be_confirmed(pending: dict[str, Any], aws: LocalAws, lambda_context: Any) -> None:
    lambda_handler(read_event("orders-close.json"), lambda_context)

    with pytest.raises(OrderNotPending, match="is CANCELLED"):
        lambda_handler(read_event("orders-confirm.json"), lambda_context)

    assert stored(aws, pending["orderId"])["status"] == "CANCELLED"


def test_a_close_that_wins_the_race_makes_the_confirm_fail(
    pending: dict[str, Any], aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Confirm read PENDING, then a close wrote first: the conditional write fails and confirm looks again."""
    replace = repository.replace

    def close_first(current: Any, updated: Any) -> bool:
        monkeypatch.setattr(repository, "replace", replace)  # only the first write is raced
        service.close_order(command=read_event("orders-close.json"))
        return replace(current, updated)

    monkeypatch.setattr(repository, "replace", close_first)

    with pytest.raises(OrderNotPending):
        lambda_handler(read_event("orders-confirm.json"), lambda_context)

    item = stored(aws, pending["orderId"])
    assert (item["status"], item["version"]) == ("CANCELLED", 2)


def test_confirming_an_unknown_order_is_a_bug_in_the_caller(aws: LocalAws, lambda_context: Any) -> None:
    with pytest.raises(InvalidCommand, match="does not exist"):
        lambda_handler(read_event("orders-confirm.json"), lambda_context)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"total": "4499"}, "total must be of type int"),
        ({"currency": "eur"}, "currency must be an ISO 4217 code"),
        ({"invoiceId": None}, "invoiceId must be of type str"),
        ({"items": [{"sku": "SKU-MUG", "quantity": 2}]}, r"items\[0\].name must be of type str"),
    ],
)
def test_a_malformed_confirm_command_changes_nothing(
    pending: dict[str, Any], aws: LocalAws, lambda_context: Any, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidCommand, match=message):
        lambda_handler(read_event("orders-confirm.json") | change, lambda_context)

    assert stored(aws, pending["orderId"])["status"] == "PENDING"


def test_the_repository_hands_out_integers(pending: dict[str, Any], lambda_context: Any) -> None:
    lambda_handler(read_event("orders-confirm.json"), lambda_context)

    current = repository.get(pending["orderId"])

    assert current is not None
    assert type(current.version) is int
    assert type(current.order.total) is int
    assert {type(line.unit_price) for line in current.order.items} == {int}


# ---------------------------------------------------------------- close
def test_close_cancels_the_order_with_the_business_reason(
    pending: dict[str, Any], aws: LocalAws, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    order = lambda_handler(read_event("orders-close.json"), lambda_context)

    assert order == pending | {
        "status": "CANCELLED",
        "failureReason": {"code": "PAYMENT_DECLINED", "detail": "The card was declined by the issuer."},
        "failedCompensations": [],
        "updatedAt": order["updatedAt"],
    }
    item = stored(aws, order["orderId"])
    assert json.loads(item["document"]) == order
    assert (item["status"], item["version"]) == ("CANCELLED", 2)
    blobs = emitted_metrics(capsys)
    [compensated] = [blob for blob in blobs if "OrdersCompensated" in blob]
    assert compensated["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "reason"]]
    assert (compensated["service"], compensated["reason"]) == ("orders", "PAYMENT_DECLINED")
    assert compensated["OrdersCompensated"] == [1.0]
    # The reason dimension stays on its own metric: the invocation's other metrics keep theirs.
    assert all("reason" not in blob for blob in blobs if blob is not compensated)
    assert values(blobs, "CompensationFailures") == []


@pytest.mark.parametrize(
    ("error", "code"),
    [("OutOfStock", "OUT_OF_STOCK"), ("PaymentDeclined", "PAYMENT_DECLINED"), ("UnknownSku", "UNKNOWN_SKU")],
)
def test_a_business_failure_is_explained_by_its_own_message(
    pending: dict[str, Any], lambda_context: Any, error: str, code: str
) -> None:
    message = f"{error} said no: SKU-MUG"

    order = lambda_handler(close_event(error, lambda_error_cause(error, message)), lambda_context)

    assert order["status"] == "CANCELLED"
    assert order["failureReason"] == {"code": code, "detail": message}


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        ("ClientError", lambda_error_cause("ClientError", "PutItem failed on table test-BillingTable")),
        ("States.Timeout", None),
        ("Lambda.ServiceException", "Lambda was unable to run the function: internal error"),
        ("IdempotencyAlreadyInProgressError", lambda_error_cause("IdempotencyAlreadyInProgressError", "key abc")),
    ],
)
def test_a_technical_failure_gets_a_fixed_sentence_that_leaks_nothing(
    pending: dict[str, Any], lambda_context: Any, error: str, cause: str | None
) -> None:
    order = lambda_handler(close_event(error, cause), lambda_context)

    assert order["failureReason"] == {"code": "SERVICE_UNAVAILABLE", "detail": SERVICE_UNAVAILABLE_DETAIL}
    assert error not in json.dumps(order)


def test_a_business_failure_without_a_readable_cause_still_gets_a_detail(
    pending: dict[str, Any], lambda_context: Any
) -> None:
    order = lambda_handler(close_event("OutOfStock", "not json"), lambda_context)

    assert order["failureReason"] == {"code": "OUT_OF_STOCK", "detail": REJECTED_DETAIL}


def test_a_failed_compensation_leaves_the_order_for_manual_action(
    pending: dict[str, Any],
    aws: LocalAws,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    capsys.readouterr()

    order = lambda_handler(read_event("orders-close-compensation-failed.json"), lambda_context)

    assert order["status"] == "COMPENSATION_FAILED"
    assert order["failedCompensations"] == [{"service": "payments", "error": "PaymentProviderUnavailable"}]
    assert order["failureReason"] == {"code": "SERVICE_UNAVAILABLE", "detail": SERVICE_UNAVAILABLE_DETAIL}
    assert "ProvisionedThroughputExceeded" not in json.dumps(order)  # the Cause stays internal
    assert stored(aws, order["orderId"])["status"] == "COMPENSATION_FAILED"
    # The CompensationFailuresAlarm watches OrderSaga/CompensationFailures with exactly service=orders.
    blobs = emitted_metrics(capsys)
    [failures] = [blob for blob in blobs if "CompensationFailures" in blob]
    assert failures["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OrderSaga"
    assert failures["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert (failures["service"], failures["CompensationFailures"]) == ("orders", [1.0])
    assert values(blobs, "OrdersCompensated") == []
    [alert] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert alert.getMessage() == "compensation failed; the order needs manual action"
    assert alert.__dict__["orderId"] == order["orderId"]


def test_closing_twice_changes_nothing_the_second_time(
    pending: dict[str, Any], aws: LocalAws, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first = lambda_handler(read_event("orders-close.json"), lambda_context)

    again = lambda_handler(read_event("orders-close.json"), lambda_context)
    forget_idempotency_records(aws)
    # After the record expired, even another failure does not rewrite a closed order.
    late = lambda_handler(read_event("orders-close-compensation-failed.json"), lambda_context)

    assert again == late == first
    assert stored(aws, first["orderId"])["version"] == 2
    assert values(emitted_metrics(capsys), "OrdersCompensated") == [1]


def test_a_confirmed_order_whose_saga_was_compensated_is_cancelled(
    pending: dict[str, Any], lambda_context: Any
) -> None:
    """ConfirmOrder wrote CONFIRMED but timed out, so the saga undid the payment, invoice and stock."""
    confirmed = lambda_handler(read_event("orders-confirm.json"), lambda_context)

    order = lambda_handler(close_event("States.Timeout"), lambda_context)

    assert order["status"] == "CANCELLED"
    assert order["failureReason"]["code"] == "SERVICE_UNAVAILABLE"
    assert order["paymentId"] == confirmed["paymentId"]  # kept: the refund references it


# ---------------------------------------------------------------- abandon
def abandon_event(**changes: Any) -> dict[str, Any]:
    create = create_event()
    cause = lambda_error_cause("Runtime.ExitError", "RequestId: r-1 Error: Runtime exited with error: signal: killed")
    failure = {"Error": "Runtime.ExitError", "Cause": cause}
    return {"action": "AbandonOrder", "idempotencyKey": create["idempotencyKey"], "request": create["request"],
            "failure": failure, **changes}  # fmt: skip


def test_abandon_closes_the_order_a_failed_create_left_pending(aws: LocalAws, lambda_context: Any) -> None:
    """CreateOrder wrote the order, then crashed before answering, twice: the saga never learnt it existed."""
    placed = lambda_handler(create_event(), lambda_context)

    order = lambda_handler(abandon_event(), lambda_context)
    again = lambda_handler(abandon_event(), lambda_context)

    assert order["orderId"] == placed["orderId"]
    assert order["status"] == "CANCELLED"
    assert order["failureReason"] == {"code": "SERVICE_UNAVAILABLE", "detail": SERVICE_UNAVAILABLE_DETAIL}
    assert again == order
    assert stored(aws, order["orderId"])["version"] == 2


def test_abandon_writes_the_order_closed_when_the_create_never_wrote_it(aws: LocalAws, lambda_context: Any) -> None:
    order = lambda_handler(abandon_event(), lambda_context)
    late_create = lambda_handler(create_event(), lambda_context)  # a create still in flight lands afterwards

    assert order["status"] == late_create["status"] == "CANCELLED"
    assert late_create["orderId"] == order["orderId"]
    assert [item["status"] for item in stored_items(aws)] == ["CANCELLED"]
    assert TOKEN not in json.dumps(stored_items(aws), default=str)


def test_abandon_leaves_an_order_another_execution_finished(
    pending: dict[str, Any], aws: LocalAws, lambda_context: Any
) -> None:
    confirmed = lambda_handler(read_event("orders-confirm.json"), lambda_context)
    event = abandon_event(idempotencyKey=read_event("orders-create.json")["idempotencyKey"],
                          request=read_event("orders-create.json")["request"])  # fmt: skip

    assert lambda_handler(event, lambda_context) == confirmed


def test_abandon_with_another_body_under_the_key_is_a_reused_key(
    pending: dict[str, Any], aws: LocalAws, lambda_context: Any
) -> None:
    other = create_event(customerId="someone-else")
    with pytest.raises(IdempotencyKeyReused):
        lambda_handler(abandon_event(idempotencyKey=other["idempotencyKey"], request=other["request"]), lambda_context)
    assert stored(aws, pending["orderId"])["status"] == "PENDING"  # the other request's order is not touched
