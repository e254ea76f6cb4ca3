"""The orchestrator writes the order itself (the ASL's DynamoDB integrations): the documents it writes must be what the
outbox relay publishes as order events. The whole template deployed in-process (moto), the real functions."""

import json
from typing import Any

import pytest
from outbox_relay.handler import lambda_handler

from saga_local.stepfunctions.inprocess import deploy_in_process
from saga_local.stepfunctions.timing import RETRY_SCALE_ENV
from tests.support.aws import LocalAws
from tests.support.outbox import audit_messages, envelope_schema, orders_stream_batch


def test_what_the_state_machine_writes_is_what_the_relay_publishes(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The orchestrator writes the order itself (ASL DynamoDB integrations): its documents must be events."""
    monkeypatch.setenv(RETRY_SCALE_ENV, "0.01")
    saga = deploy_in_process()
    try:
        mug = {"sku": "SKU-MUG", "name": "Mug", "unitPrice": 1299, "currency": "EUR", "available": 10, "reserved": 0}
        saga.table("InventoryTable").put_item(Item={"pk": "SKU#SKU-MUG", **mug})
        lines = [{"sku": "SKU-MUG", "quantity": 2}]
        request = {"customerId": "cus_1", "items": lines, "payment": {"token": "tok_visa"}}
        caller = "arn:aws:iam::123456789012:user/storefront"
        response = saga.start_sync({"idempotencyKey": "relay-test-key-1", "caller": caller, "request": request})
        orders_table = saga.table("OrdersTable").name
    finally:
        saga.close()
    assert response["status"] == "SUCCEEDED", response
    confirmed = json.loads(response["output"])

    relayed = lambda_handler(orders_stream_batch(aws, orders_table), lambda_context)

    assert relayed == {"batchItemFailures": []}
    envelopes = [json.loads(message["Body"]) for message in audit_messages(aws)]
    for envelope in envelopes:
        envelope_schema.validate(envelope)
    placed = {**confirmed, "status": "PENDING", "items": request["items"], "total": None, "currency": None,
              "paymentId": None, "invoiceId": None, "updatedAt": confirmed["createdAt"]}  # fmt: skip
    assert [(envelope["type"], envelope["data"]) for envelope in envelopes] == [
        ("order.placed", placed),
        ("order.confirmed", confirmed),
    ]  # the Idempotency-Key record the saga also wrote makes no event
    assert {envelope["caller"] for envelope in envelopes} == {caller}
