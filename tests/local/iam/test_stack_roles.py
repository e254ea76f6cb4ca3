"""The local stack as strict as AWS where IAM is concerned: each function, the state machine and the API's
integration role call the endpoint with their own role's session, so an action missing from a role fails locally,
and the order fails the way it would on AWS. Each test takes one action out of a role of the running stack (the
policy the template made, rewritten through IAM as a deployment without that statement would have it), then puts
the policy back."""

import contextlib
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from saga_local.launch import Launched, launched_stack
from saga_local.signing import Caller, sign

STACK_SETTINGS = {"SAGA_LOCAL_RETRY_SCALE": "0.01", "SAGA_LOCAL_TIMEOUT_SCALE": "10", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Launched]:
    with launched_stack(STACK_SETTINGS, timeout=90) as launched:
        yield launched


def _root(stack: Launched, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]  # dynamic service name
        service, region_name="us-east-1", endpoint_url=stack.outputs["AwsEndpointUrl"],
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip


def _role_name(stack: Launched, logical_id: str) -> str:
    return str(json.loads((stack.state_dir / "stack.json").read_text())["refs"][logical_id])


def _without(document: dict[str, Any], action: str) -> dict[str, Any]:
    statements = []
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        kept = [name for name in actions if name != action]
        if kept:
            statements.append({**statement, "Action": kept})
    return {**document, "Statement": statements}


@contextlib.contextmanager
def revoked(stack: Launched, role_logical_id: str, action: str) -> Iterator[None]:
    """`action` taken out of every policy of the role (inline and attached), as if the template had not granted it."""
    iam, role = _root(stack, "iam"), _role_name(stack, role_logical_id)
    restore: list[tuple[str, dict[str, str]]] = []  # the IAM calls that put the role back
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if _without(document, action) != document:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(_without(document, action)))
            restore.append(("put_role_policy", {"RoleName": role, "PolicyName": name,
                                                "PolicyDocument": json.dumps(document)}))  # fmt: skip
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        if arn.startswith("arn:aws:iam::aws:"):
            continue  # AWS managed: not this template's to change
        default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]
        if _without(document, action) != document:
            new = iam.create_policy_version(
                PolicyArn=arn, PolicyDocument=json.dumps(_without(document, action)), SetAsDefault=True
            )["PolicyVersion"]["VersionId"]
            restore.append(("set_default_policy_version", {"PolicyArn": arn, "VersionId": default}))
            restore.append(("delete_policy_version", {"PolicyArn": arn, "VersionId": new}))
    assert restore, f"{role_logical_id} has no policy granting {action}"
    try:
        yield
    finally:
        for method, arguments in restore:
            getattr(iam, method)(**arguments)


def _order(stack: Launched, sku: str = "SKU-1") -> tuple[int, dict[str, Any]]:
    """POST /orders signed as the first local caller (storefront)."""
    body = json.dumps({"customerId": "c-iam", "items": [{"sku": sku, "quantity": 1}], "payment": {"token": "tok_visa"}})
    url = stack.outputs["LocalApiUrl"] + "/orders"
    headers = {"x-api-key": stack.outputs["ApiKey"], "Idempotency-Key": f"iam-{uuid.uuid4()}",
               "Content-Type": "application/json"}  # fmt: skip
    signed = sign("POST", url, body.encode(), headers, Caller.from_outputs(stack.outputs))
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers=signed)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # nosec B310  # the local API
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _log(stack: Launched, function_logical_id: str) -> str:
    name = json.loads((stack.state_dir / "stack.json").read_text())["functions"][function_logical_id]
    return Path(stack.state_dir / "logs" / f"{name}.log").read_text()


def _available(stack: Launched, sku: str) -> int:
    table = _role_name(stack, "InventoryTable")  # refs hold table names too
    key = {"pk": {"S": f"SKU#{sku}"}}
    item = _root(stack, "dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    return int(item["available"]["N"])


def test_the_saga_confirms_orders_with_every_principal_on_its_own_role(stack: Launched) -> None:
    status, order = _order(stack)
    assert (status, order["status"]) == (201, "CONFIRMED")
    # The functions signed as their roles' sessions (named after the function, as Lambda names them).
    with revoked(stack, "BillingFunctionRole", "dynamodb:PutItem"):
        _order(stack)
    assert "assumed-role/order-saga-local-BillingFunctionRole/order-saga-local-BillingFunction" in _log(
        stack, "BillingFunction"
    )


def test_the_inventory_without_update_item_fails_the_order_as_on_aws(stack: Launched) -> None:
    before = _available(stack, "SKU-2")
    with revoked(stack, "InventoryFunctionRole", "dynamodb:UpdateItem"):
        status, problem = _order(stack, "SKU-2")
    # Reserving is a transaction of updates: AccessDeniedException in the function, an unhandled ClientError for
    # the Task, retried, then the saga compensates and answers that a service it depends on is unavailable.
    assert (status, problem["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert "AccessDeniedException" in _log(stack, "InventoryFunction")
    assert "is not authorized to perform: dynamodb:UpdateItem" in _log(stack, "InventoryFunction")
    assert _available(stack, "SKU-2") == before


def test_the_state_machine_without_put_item_on_orders_fails_the_order_as_on_aws(stack: Launched) -> None:
    before, invocations = _available(stack, "SKU-3"), _log(stack, "InventoryFunction").count("\nSTART ")
    with revoked(stack, "OrderSagaStateMachineRole", "dynamodb:PutItem"):
        status, problem = _order(stack, "SKU-3")
    # CreateOrder fails with DynamoDB.AccessDeniedException, caught; no order was stored, so nothing ran.
    assert (status, problem["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert _available(stack, "SKU-3") == before
    assert _log(stack, "InventoryFunction").count("\nSTART ") == invocations  # no step was invoked


def test_the_api_role_without_start_sync_execution_is_a_500_and_nothing_runs(stack: Launched) -> None:
    with revoked(stack, "ApiIntegrationRole", "states:StartSyncExecution"):
        status, problem = _order(stack)
    assert (status, problem["code"]) == (500, "INTERNAL_ERROR")
    assert problem["detail"] == "The order could not be placed; nothing was done."
    status, order = _order(stack)  # the policy back: orders go through again
    assert (status, order["status"]) == (201, "CONFIRMED")


def test_a_caller_without_execute_api_invoke_is_refused_as_api_gateway_refuses_it(stack: Launched) -> None:
    """The local callers are IAM users and roles like any other: their policy is what lets them call the API."""
    iam, user = _root(stack, "iam"), stack.outputs["Callers"][0]["Name"]
    (name,) = iam.list_user_policies(UserName=user)["PolicyNames"]
    document = iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"]
    other = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=json.dumps(other))
    try:
        status, problem = _order(stack)
    finally:
        iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=json.dumps(document))
    assert (status, problem["code"]) == (403, "FORBIDDEN")
    assert problem["detail"].startswith(f"User: {stack.outputs['Callers'][0]['Arn']} is not authorized to perform: "
                                         "execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:")  # fmt: skip
    assert problem["detail"].endswith("/dev/POST/orders")
    status, order = _order(stack)  # the policy back: the caller may call again
    assert (status, order["status"]) == (201, "CONFIRMED")
