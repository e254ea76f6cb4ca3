"""The sweep's reads and writes: the orders table's Sweep index (ORDERS_TABLE, SWEEP_INDEX) and the state machine
(STATE_MACHINE_ARN). Every write is conditional on what the sweep read, so two sweeps never both act on an order,
and an order that finished meanwhile is never touched."""

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from saga_common import aws

from recovery_sweep.errors import SweptMeanwhile
from recovery_sweep.model import FLAGGED, IndexedOrder
from recovery_sweep.settings import settings


def due(partition: str, cutoff: str, limit: int) -> list[IndexedOrder]:
    """The orders of one index partition whose sweepAt is at or before `cutoff`, oldest first, at most `limit`: a
    Query, never a scan (the index holds only unfinished and failed orders), following its pages (a page stops at
    1 MB, before `limit` if it must)."""
    found: list[IndexedOrder] = []
    start: dict[str, Any] | None = None
    while len(found) < limit:
        request: dict[str, Any] = {
            "IndexName": settings().sweep_index,
            "KeyConditionExpression": Key("sweep").eq(partition) & Key("sweepAt").lte(cutoff),
            "Limit": limit - len(found),
        }
        if start:
            request["ExclusiveStartKey"] = start
        page = aws.table(settings().orders_table).query(**request)
        found += [IndexedOrder.from_item(item) for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return found


def saved_request(order_id: str) -> dict[str, Any] | None:
    """The order's stored idempotency key, request and caller, if it still has them (a final order has not)."""
    item = aws.table(settings().orders_table).get_item(
        Key={"orderId": order_id}, ProjectionExpression="idempotencyKey, savedRequest, #s, #c",
        ExpressionAttributeNames={"#s": "status", "#c": "caller"}, ConsistentRead=True,
    ).get("Item")  # fmt: skip
    return dict(item) if item else None


def claim(order: IndexedOrder, *, attempt: int, next_sweep_at: str, now: str) -> None:
    """Take the order's next attempt: unless its sweepAt or status changed since it was read (SweptMeanwhile)."""
    _conditional_update(
        order, "SET sweepAt = :next, recoveryAttempts = :attempt, lastRecoveryAt = :now",
        {":next": next_sweep_at, ":attempt": attempt, ":now": now},
    )  # fmt: skip


def flag(order: IndexedOrder, *, now: str) -> None:
    """Move the order to the FLAGGED partition: out of the sweep, kept for an operator (python -m saga_local ops)."""
    _conditional_update(order, "SET sweep = :flagged, lastRecoveryAt = :now", {":flagged": FLAGGED, ":now": now})


def _conditional_update(order: IndexedOrder, expression: str, values: dict[str, Any]) -> None:
    try:
        aws.table(settings().orders_table).update_item(
            Key={"orderId": order.order_id}, UpdateExpression=expression,
            ConditionExpression="sweep = :seenSweep AND sweepAt = :seenAt AND #s = :seenStatus",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={**values, ":seenSweep": order.sweep, ":seenAt": order.sweep_at,
                                       ":seenStatus": order.status},
        )  # fmt: skip
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise SweptMeanwhile(order.order_id) from error
        raise


def start_execution(name: str, execution_input: str) -> str:
    """An asynchronous Express execution of the saga (StartExecution): not bound to any HTTP request."""
    machine = settings().state_machine_arn
    response = aws.stepfunctions().start_execution(stateMachineArn=machine, name=name, input=execution_input)
    return str(response["executionArn"])
