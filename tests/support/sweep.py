"""What the recovery sweep's and the operator's tool's tests share: the template's orders table (its Sweep index
included) and a state machine whose executions are only recorded, so each test sees what was started and with what."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from recovery_sweep.settings import settings
from saga_common import aws as saga_aws
from saga_common.clock import iso

from tests.support.aws import LocalAws

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# The request as the API passed it and CreateOrder stored it (States.JsonToString: compact, keys in order).
REQUEST = {"customerId": "c-1", "items": [{"sku": "SKU-3", "quantity": 1}], "payment": {"token": "tok_visa"}}
CALLER = "arn:aws:iam::123456789012:user/storefront"  # who placed the orders (stored on each, as CreateOrder does)


def order_id_for(key: str) -> str:
    """A fixture's order id, fixed per key so a test can name it (the saga's own ids are random)."""
    return "ord_" + hashlib.sha256(f"fixture:{key}".encode()).hexdigest()


@dataclass
class Sweepable:
    """The moto account with the orders table and the saga's state machine, and the AWS calls the code made."""

    aws: LocalAws
    sfn: Any
    machine_arn: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (operation, params), in order

    @property
    def orders(self) -> Any:
        return self.aws.table("OrdersTable")

    def put_order(
        self, key: str, *, status: str = "PENDING", age: float = 3600, attempts: int | None = None,
        sweep: str | None = "OPEN", saved: bool = True, document: dict[str, Any] | None = None,
    ) -> str:  # fmt: skip
        """An order as the state machine leaves it: `age` seconds since its sweepAt (created or last retried)."""
        order_id = order_id_for(key)
        item: dict[str, Any] = {
            "orderId": order_id, "status": status, "updatedAt": iso(NOW - timedelta(seconds=age)),
            "requestHash": "0" * 64, "version": 1,
            "document": json.dumps(document or {"orderId": order_id, "status": status}),
        }  # fmt: skip
        if sweep:
            item |= {"sweep": sweep, "sweepAt": iso(NOW - timedelta(seconds=age))}
        if saved:
            item |= {
                "idempotencyKey": key,
                "caller": CALLER,
                "savedRequest": json.dumps(REQUEST, separators=(",", ":")),
            }
        if attempts is not None:
            item["recoveryAttempts"] = attempts
        self.orders.put_item(Item=item)
        return order_id

    def order(self, order_id: str) -> dict[str, Any]:
        return dict(self.orders.get_item(Key={"orderId": order_id}, ConsistentRead=True)["Item"])

    def executions(self) -> list[dict[str, Any]]:
        """Every execution started, oldest first, with its input parsed."""
        listed = self.sfn.list_executions(stateMachineArn=self.machine_arn)["executions"]
        described = [self.sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]
        return sorted(({**d, "input": json.loads(d["input"])} for d in described), key=lambda d: d["startDate"])

    def operations(self, service: str) -> list[str]:
        return [operation for operation, _ in self.calls if operation.startswith(f"{service}.")]

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """Hooks the function's own clients (saga_common.aws), e.g. to change an order between two of its calls.
        Events name Step Functions `sfn`; before-call hooks get the serialised request (`body`)."""
        for client in (saga_aws.table(settings().orders_table).meta.client, saga_aws.stepfunctions()):
            client.meta.events.register(event, handler)

    def off(self, event: str, handler: Callable[..., Any]) -> None:
        for client in (saga_aws.table(settings().orders_table).meta.client, saga_aws.stepfunctions()):
            client.meta.events.unregister(event, handler)


def mentions(request: dict[str, Any], text: str) -> bool:
    """Whether a serialised request (a before-call hook's `params`) names `text`, e.g. an order id."""
    body = request.get("body") or b""
    return text in (body.decode() if isinstance(body, bytes) else str(body))


def refuse(code: str) -> Callable[..., Any]:
    """A before-call hook answering the call with the service's error `code` (HTTP 400), as AWS would."""

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://aws.invalid", 400, HTTPHeaders(), None), {"Error": {"Code": code, "Message": code}}

    return answer
