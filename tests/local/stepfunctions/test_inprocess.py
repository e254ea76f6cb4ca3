"""The saga end to end, in process: the real ASL in moto's interpreter, the real handlers, moto's tables.

Each test starts one synchronous execution as API Gateway's integration does (StartSyncExecution)
and checks the response and what every service's table holds afterwards (docs/saga-steps.md).
Retry waits are scaled by SAGA_LOCAL_RETRY_SCALE, so retried paths take milliseconds.
"""

import dataclasses
import json
import os
import textwrap
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from saga_local.awslambda.invoke_hook import LambdaTarget
from saga_local.cloudformation.specs import FunctionSpec
from saga_local.stepfunctions.inprocess import InProcessRunner, LocalSaga, deploy_in_process
from saga_local.stepfunctions.timing import RETRY_SCALE_ENV

CATALOG = {
    "SKU-MUG": {"name": "Mug", "unitPrice": 1299, "currency": "EUR", "available": 10},
    "SKU-TEE": {"name": "T-shirt", "unitPrice": 2500, "currency": "EUR", "available": 5},
    "SKU-RARE": {"name": "Rare print", "unitPrice": 9900, "currency": "EUR", "available": 1},
}


@pytest.fixture
def saga(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSaga]:
    """`aws` starts moto; the saga provisions every resource of the template in it, as the local stack does."""
    monkeypatch.setenv(RETRY_SCALE_ENV, "0.01")  # the ASL's 1-2 s retry waits take 10-20 ms
    local = deploy_in_process()
    inventory = local.table("InventoryTable")
    for sku, item in CATALOG.items():
        inventory.put_item(Item={"pk": f"SKU#{sku}", "sku": sku, **item, "reserved": 0})
    yield local
    local.close()


def order_input(*items: tuple[str, int], token: str = "tok_visa", key: str | None = None) -> dict[str, Any]:
    return {
        "idempotencyKey": key or str(uuid.uuid4()),
        "caller": "arn:aws:iam::123456789012:user/storefront",  # as the API's template adds it (AWS_IAM)
        "request": {
            "customerId": "cus_1",
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
            "payment": {"token": token},
        },
    }


def output_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["status"] == "SUCCEEDED", {k: response.get(k) for k in ("status", "error", "cause")}
    return json.loads(response["output"])


def stock(aws: Any, sku: str) -> tuple[Decimal, Decimal]:
    item = aws.table("InventoryTable").get_item(Key={"pk": f"SKU#{sku}"})["Item"]
    return item["available"], item["reserved"]


def order_status(aws: Any, order_id: str) -> str:
    return aws.table("OrdersTable").get_item(Key={"orderId": order_id})["Item"]["status"]


def payment(aws: Any, order_id: str) -> dict[str, Any] | None:
    return aws.table("PaymentsTable").get_item(Key={"pk": f"PAYMENT#{order_id}"}).get("Item")


def _runner_for(tmp_path: Path, source: str) -> tuple[InProcessRunner, LambdaTarget]:
    """An InProcessRunner for one function whose module (uniquely named: modules stay imported) holds `source`."""
    package = f"fn_{uuid.uuid4().hex}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "app.py").write_text(source)
    function = FunctionSpec(
        logical_id="Fn",
        name="fn",
        arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        code_dir=tmp_path,
        handler=f"{package}.app.handler",
        layer_dirs=(),
        environment={"GREETING": "hello"},
        timeout_seconds=3,
        memory_mb=256,
    )
    target = LambdaTarget("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn", timeout=3, memory_size=256)
    return InProcessRunner({"fn": function}), target


def test_in_process_runner_calls_the_handler_with_its_environment_and_a_lambda_context(tmp_path: Path) -> None:
    runner, target = _runner_for(tmp_path, textwrap.dedent("""
        import os

        def handler(event, context):
            return {"greeting": os.environ["GREETING"], "name": context.function_name, "event": event,
                    "memory": context.memory_limit_in_mb, "remaining": context.get_remaining_time_in_millis()}
    """))  # fmt: skip
    try:
        payload, error = runner(target, {"n": 1})
    finally:
        runner.close()
    assert error is None
    assert payload["greeting"] == "hello"
    assert (payload["name"], payload["event"], payload["memory"]) == ("fn", {"n": 1}, 256)
    assert 2500 < payload["remaining"] <= 3000
    assert "GREETING" not in os.environ  # put back by close()


@pytest.mark.parametrize(
    ("source", "handler", "error_type"),
    [
        ("class OutOfStock(Exception): ...\ndef handler(e, c):\n    raise OutOfStock('none left')", None, "OutOfStock"),
        ("from decimal import Decimal\ndef handler(e, c):\n    return Decimal(1)", None, "Runtime.MarshalError"),
        ("import no_such_module", None, "Runtime.ImportModuleError"),
        ("def handler(e, c): ...", "app.missing", "Runtime.HandlerNotFound"),
    ],
    ids=["exception", "unserializable result", "import error", "no such handler"],
)
def test_in_process_runner_reports_errors_as_lambda_does(
    tmp_path: Path, source: str, handler: str | None, error_type: str
) -> None:
    runner, target = _runner_for(tmp_path, source)
    if handler:
        spec = runner.functions["fn"]
        runner.functions["fn"] = dataclasses.replace(spec, handler=spec.handler.replace("app.handler", handler))
    try:
        payload, error = runner(target, {})
    finally:
        runner.close()
    assert payload is None
    assert error is not None
    assert error["errorType"] == error_type
    assert error["errorMessage"]


def test_happy_path_confirms_the_order(saga: LocalSaga) -> None:
    order = output_of(saga.start_sync(order_input(("SKU-MUG", 2), ("SKU-TEE", 1))))
    assert order["status"] == "CONFIRMED"
    assert order["total"] == 2 * 1299 + 2500
    assert order["currency"] == "EUR"
    assert order["paymentId"]
    assert order["invoiceId"]
    assert {line["sku"]: line["lineTotal"] for line in order["items"]} == {"SKU-MUG": 2598, "SKU-TEE": 2500}
    assert order_status(saga, order["orderId"]) == "CONFIRMED"
    assert stock(saga, "SKU-MUG") == (8, 2)
    charge = payment(saga, order["orderId"])
    assert charge is not None
    assert charge["status"] == "CAPTURED"


def test_out_of_stock_cancels_the_order_and_leaves_stock_alone(saga: LocalSaga) -> None:
    outcome = output_of(saga.start_sync(order_input(("SKU-MUG", 1), ("SKU-RARE", 2))))
    assert outcome["code"] == "OUT_OF_STOCK"
    assert outcome["detail"]
    assert order_status(saga, outcome["orderId"]) == "CANCELLED"
    assert stock(saga, "SKU-MUG") == (10, 0)
    assert stock(saga, "SKU-RARE") == (1, 0)
    assert payment(saga, outcome["orderId"]) is None


def test_declined_payment_releases_the_stock(saga: LocalSaga) -> None:
    outcome = output_of(saga.start_sync(order_input(("SKU-TEE", 2), token="tok_chargeDeclined")))
    assert outcome["code"] == "PAYMENT_DECLINED"
    assert order_status(saga, outcome["orderId"]) == "CANCELLED"
    assert stock(saga, "SKU-TEE") == (5, 0)
    assert (payment(saga, outcome["orderId"]) or {}).get("status") != "CAPTURED"


def test_transient_payment_error_is_compensated_not_retried(saga: LocalSaga) -> None:
    """A forward step retries only what did not run (docs/saga.md, The time budget): the provider's error is undone."""
    response = saga.start_sync(order_input(("SKU-MUG", 1), token="tok_processingError"))
    assert (response["status"], response["error"]) == ("FAILED", "SERVICE_UNAVAILABLE"), response
    order_id = json.loads(response["cause"])["orderId"]
    assert order_status(saga, order_id) == "CANCELLED"
    assert (payment(saga, order_id) or {}).get("status") != "CAPTURED"
    assert stock(saga, "SKU-MUG") == (10, 0)


def test_payment_provider_unavailable_fails_the_execution_after_compensating(saga: LocalSaga) -> None:
    response = saga.start_sync(order_input(("SKU-MUG", 3), token="tok_unavailable"))
    assert response["status"] == "FAILED", response
    assert response["error"] == "SERVICE_UNAVAILABLE"
    cause = json.loads(response["cause"])
    assert cause["code"] == "SERVICE_UNAVAILABLE"
    order_id = cause["orderId"]
    assert order_status(saga, order_id) == "CANCELLED"
    assert (payment(saga, order_id) or {}).get("status") != "CAPTURED"
    assert stock(saga, "SKU-MUG") == (10, 0)


def test_replayed_request_repeats_the_outcome_without_charging_twice(saga: LocalSaga) -> None:
    request = order_input(("SKU-MUG", 2), key="replay-key")
    first = output_of(saga.start_sync(request))
    second = output_of(saga.start_sync(request))
    assert second == first
    assert stock(saga, "SKU-MUG") == (8, 2)
    payments = saga.table("PaymentsTable").scan()["Items"]
    assert [item["pk"] for item in payments if item["pk"].startswith("PAYMENT#")] == [f"PAYMENT#{first['orderId']}"]


def test_same_idempotency_key_with_another_request_is_refused(saga: LocalSaga) -> None:
    output_of(saga.start_sync(order_input(("SKU-MUG", 1), key="reused-key")))
    outcome = output_of(saga.start_sync(order_input(("SKU-MUG", 5), key="reused-key")))
    assert outcome["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert stock(saga, "SKU-MUG") == (9, 1)


def test_duplicate_sku_is_an_invalid_request_naming_the_field(saga: LocalSaga) -> None:
    outcome = output_of(saga.start_sync(order_input(("SKU-MUG", 1), ("SKU-MUG", 2))))
    assert outcome["code"] == "INVALID_REQUEST"
    assert "items[1].sku" in outcome["detail"]
    # Inventory refuses it (the API's model cannot say "unique by sku"): the order is recorded as refused.
    [order] = [item for item in saga.table("OrdersTable").scan()["Items"] if item["orderId"].startswith("ord_")]
    assert (order["orderId"], order["status"]) == (outcome["orderId"], "CANCELLED")
    assert stock(saga, "SKU-MUG") == (10, 0)
