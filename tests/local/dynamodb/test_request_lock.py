"""saga_local.dynamodb.request_lock: DynamoDB requests run one at a time."""

import threading
from typing import Any


def test_dynamodb_requests_are_serialized(aws: Any) -> None:
    """Concurrent `ADD n :1` on one item: moto alone loses some; serialized, none is lost."""
    from moto.dynamodb.responses import DynamoHandler

    assert hasattr(DynamoHandler.call_action, "__wrapped__"), "the lock is not around DynamoHandler.call_action"
    table = aws.table("OrdersTable")
    threads, per_thread = 8, 50

    def add() -> None:
        for _ in range(per_thread):
            table.update_item(Key={"orderId": "counter"}, UpdateExpression="ADD n :one",
                              ExpressionAttributeValues={":one": 1})  # fmt: skip

    workers = [threading.Thread(target=add) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert table.get_item(Key={"orderId": "counter"})["Item"]["n"] == threads * per_thread
