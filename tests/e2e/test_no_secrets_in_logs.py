"""Secrets through the local stack: every route refuses a missing or wrong API key, and no card token, API key,
caller secret or AWS credential reaches any log the run writes (function logs, the stack's own output, X-Ray traces)
or any event it publishes.

It shares the e2e session's stack, so the logs it reads also hold every other e2e test's orders."""

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from saga_local.signing import sign
from tests.support import template
from tests.support.paths import ROOT
from tests.support.stack import LocalStackHandle
from tests.support.wait import wait_for

PROBLEM_JSON = "application/problem+json"
# The functions these orders run (the recovery sweep runs on its schedule, maybe not within the test: it is warmed,
# so its log exists, and its lines are scanned like the others').
# The functions an order runs: the saga's steps, and the relay its stream triggers ("Inventory", ..., "OutboxRelay").
SAGA_FUNCTIONS = tuple(
    name.removesuffix("Function")
    for name in template.functions()
    if name in {task.function for task in template.saga_tasks().values()} or template.stream_triggered(name)
)
FLUSH_SECONDS = 20  # function logs and traces are written asynchronously (worker pipes, UDP segments)
# An AWS access key id, or the name of a credential variable next to a value (an environment dump).
AWS_CREDENTIAL = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|aws_secret_access_key|aws_session_token", re.IGNORECASE)


def _operations() -> list[tuple[str, str]]:
    document = yaml.safe_load((ROOT / "api" / "openapi.yaml").read_text(encoding="utf-8"))
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    found = [(m.upper(), path) for path, item in document["paths"].items() for m in item if m in methods]
    # The 405 responder of a path (any other method) is behind the key too: DELETE stands for it.
    return found + [("DELETE", p) for p, item in document["paths"].items() if "x-amazon-apigateway-any-method" in item]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "ord_00000000000000000000000000", path)


@pytest.mark.parametrize("key", [None, "", "wrong-key-0123456789"], ids=["missing", "empty", "wrong"])
@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_route_refuses_a_missing_or_wrong_api_key(
    local_stack: LocalStackHandle, method: str, path: str, key: str | None
) -> None:
    headers = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    if key is not None:
        headers["x-api-key"] = key
    body = {"customerId": "c-1", "items": [{"sku": "SKU-1", "quantity": 1}], "payment": {"token": "tok_visa"}}
    response = local_stack.request(method, _concrete(path), body if method == "POST" else None, headers=headers,
                                   api_key=False)  # fmt: skip
    assert response.status == 403, response.body
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert (problem["status"], problem["code"]) == (403, "FORBIDDEN")


def _log_files(stack: LocalStackHandle) -> list[Path]:
    """Every file the run wrote under its state folder, and the stack's stdout. outputs.json is left out: it is
    the API key's hand-over to the developer (as `aws apigateway get-api-key` is on AWS), not a log."""
    written = [p for p in stack.state_dir.rglob("*") if p.is_file() and p.name not in ("outputs.json", "stack.json")]
    return [*written, stack.state_dir.parent / "stack.log"]


def _read_all(stack: LocalStackHandle) -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8", errors="replace") for path in _log_files(stack)}


def test_no_card_token_api_key_or_aws_credential_in_any_log(local_stack: LocalStackHandle) -> None:
    canary = f"tok_canary{uuid.uuid4().hex}"  # a token no code or fixture contains: declined as unknown
    wrong_key = f"wrong-key-{uuid.uuid4().hex}"
    order_ids = []
    for token, status in (("tok_visa", 201), ("tok_chargeDeclined", 402), (canary, 402)):
        response, key = local_stack.place_order(("SKU-1", 1), token=token)
        assert response.status == status, response.body
        order_ids.append(response.json()["orderId"])
        replay = local_stack.request("POST", "/orders", headers={"Idempotency-Key": key}, body={
            "customerId": "c-1", "items": [{"sku": "SKU-1", "quantity": 1}], "payment": {"token": token}})  # fmt: skip
        assert replay.status == status, replay.body
    refused = local_stack.request("GET", f"/orders/{order_ids[0]}", headers={"x-api-key": wrong_key}, api_key=False)
    assert refused.status == 403
    # A signed read whose signature is kept: neither it nor any caller's secret key or session token may be logged.
    url = f"{local_stack.api_url}/orders/{order_ids[0]}"
    signed = sign("GET", url, None, {"x-api-key": local_stack.api_key}, local_stack.caller(0))
    signature = signed["Authorization"].rpartition("Signature=")[2]
    assert (
        local_stack.request("GET", f"/orders/{order_ids[0]}", headers=signed, api_key=False, caller=None).status == 200
    )

    # Wait until the run has written what these orders left: each order id in the traces (segments come over
    # UDP), an invocation in every function's log (the relay's comes after the stream poll), then no log growing
    # for a second (workers' output is copied by threads). The function logs need not name the orders: at the
    # template's default log level a successful step logs only metrics.
    sizes: dict[Path, int] = {}

    def settled() -> dict[Path, str] | None:
        logs = _read_all(local_stack)
        traces = "".join(text for path, text in logs.items() if path.parent.name == "traces")
        ran = {path.name for path, text in logs.items() if path.parent.name == "logs" and "REPORT RequestId" in text}
        written = all(o in traces for o in order_ids) and len(ran) >= len(SAGA_FUNCTIONS)
        now = {path: len(text) for path, text in logs.items()}
        unchanged = now == sizes  # no log grew for a second: workers' output is copied by threads
        sizes.clear()
        sizes.update(now)
        return logs if written and unchanged else None

    logs = wait_for(settled, timeout=FLUSH_SECONDS, interval=1, message="every order traced and the logs settled")
    traces = "".join(text for path, text in logs.items() if path.parent.name == "traces")
    function_logs = {path: text for path, text in logs.items() if path.parent.name == "logs"}
    assert all(o in traces for o in order_ids), "the traces never showed these orders"
    assert len(function_logs) >= 4, function_logs  # one per function
    ran = {path.name for path, text in function_logs.items() if "REPORT RequestId" in text}
    assert all(any(log.endswith(f"-{name}Function.log") for log in ran) for name in SAGA_FUNCTIONS), ran

    # The events these orders made (the audit queue sees what every subscriber sees): they say who, and no secret.
    events = _events_of(local_stack, set(order_ids), count=2 * len(order_ids))
    assert {event["caller"] for event in events} == {local_stack.caller().owner}
    logs[local_stack.state_dir / "audit-queue-events.json"] = json.dumps(events)

    secrets = {
        "card token tok_visa": "tok_visa",
        "card token tok_chargeDeclined": "tok_chargeDeclined",
        "card token (canary)": canary,
        "API key": local_stack.api_key,
        "a wrong API key": wrong_key,
        "a SigV4 signature": signature,
    }
    for caller in local_stack.outputs["Callers"]:
        secrets[f"{caller['Name']}'s secret access key"] = caller["SecretAccessKey"]
        if caller.get("SessionToken"):
            secrets[f"{caller['Name']}'s session token"] = caller["SessionToken"]
    assert _leaks(logs, secrets, relative_to=local_stack.state_dir.parent) == []


def _events_of(stack: LocalStackHandle, order_ids: set[str], count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The order events of `order_ids` on the audit queue, read and deleted, once `count` have arrived."""
    sqs, url, found = stack.client("sqs"), stack.outputs["AuditQueueUrl"], list[dict[str, Any]]()
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            event = json.loads(message["Body"])
            if event["orderId"] in order_ids:
                found.append(event)
    assert len(found) >= count, found
    return found


def _leaks(logs: dict[Path, str], secrets: dict[str, str], relative_to: Path) -> list[str]:
    found = [f"{name} in {path.relative_to(relative_to)}" for path, text in logs.items()
             for name, value in secrets.items() if value in text]  # fmt: skip
    found += [f"AWS credential {match.group(0)!r} in {path.relative_to(relative_to)}" for path, text in logs.items()
              if (match := AWS_CREDENTIAL.search(text))]  # fmt: skip
    return found


def test_the_leak_search_finds_a_planted_token_and_credential(tmp_path: Path) -> None:
    """Guards the guard: a token anywhere in a line, an access key id or a credential variable is reported."""
    log = tmp_path / "logs" / "f.log"
    log.parent.mkdir()
    text = '{"level":"INFO","payment":{"token":"tok_visa"}}\nAWS_SECRET_ACCESS_KEY=x\nkey AKIAABCDEFGHIJKLMNOP\n'
    assert _leaks({log: text}, {"card token": "tok_visa"}, tmp_path) == [
        "card token in logs/f.log",
        "AWS credential 'AWS_SECRET_ACCESS_KEY' in logs/f.log",
    ]
    assert _leaks({log: "order ord_1 confirmed"}, {"card token": "tok_visa"}, tmp_path) == []
