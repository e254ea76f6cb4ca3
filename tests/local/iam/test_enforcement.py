"""saga_local.iam.enforcement: with IAM enforced, moto checks a role's actions as AWS does for this stack's calls
(resource-scoped Allows apply, IAM's action names, the service's own error), and any other credentials are root."""

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core.authorization import enable_iam_authentication

from saga_local.iam.enforcement import iam_actions
from saga_local.iam.sessions import RoleSessions
from tests.support.aws import REGION
from tests.support.emulator import Behaviour, client

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}  # fmt: skip
ARN = "arn:aws:{service}:us-east-1:123456789012:{resource}"


class Account:
    """The endpoint as the local stack leaves it: resources created as root, then IAM enforced."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.root = lambda service: client(service, endpoint)
        self.sessions = RoleSessions(self.root("sts"))
        self.table_arn = self.root("dynamodb").create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )["TableDescription"]["TableArn"]  # fmt: skip

    def role(self, name: str, *statements: dict[str, Any]) -> str:
        iam = self.root("iam")
        arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName=name, PolicyName="own", PolicyDocument=json.dumps(document))
        return arn

    def as_role(self, role_arn: str, service: str) -> Any:
        credentials = self.sessions.credentials(role_arn, "test-session").client_arguments()
        return boto3.client(  # type: ignore[call-overload]  # dynamic service name
            service, region_name=REGION, endpoint_url=self.endpoint, config=Config(inject_host_prefix=False),
            **credentials,
        )  # fmt: skip


@pytest.fixture
def account(server: str) -> Iterator[Account]:
    created = Account(server)
    with enable_iam_authentication():
        yield created


def _error(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def _put(pk: str) -> dict[str, Any]:
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}}}}


def test_an_allow_naming_the_table_applies_and_a_missing_action_is_denied_as_dynamodb_denies(account: Account) -> None:
    role = account.role("writer", {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": account.table_arn})
    dynamodb = account.as_role(role, "dynamodb")

    dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})

    status, code, message = _error(lambda: dynamodb.delete_item(TableName="t", Key={"pk": {"S": "a"}}))
    assert (status, code) == (400, "AccessDeniedException")
    assert message == (
        "User: arn:aws:sts::123456789012:assumed-role/writer/test-session is not authorized to perform: "
        "dynamodb:DeleteItem"
    )
    assert account.root("dynamodb").get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]  # nothing deleted


def test_a_transaction_needs_the_action_of_each_of_its_items(account: Account) -> None:
    role = account.role("putter", {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": account.table_arn})
    dynamodb = account.as_role(role, "dynamodb")

    dynamodb.transact_write_items(TransactItems=[_put("a"), _put("b")])

    update = {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = :n",
                         "ExpressionAttributeValues": {":n": {"N": "1"}}}}  # fmt: skip
    status, code, message = _error(lambda: dynamodb.transact_write_items(TransactItems=[_put("c"), update]))
    assert (status, code) == (400, "AccessDeniedException")
    assert message.endswith("is not authorized to perform: dynamodb:UpdateItem")
    assert "Item" not in account.root("dynamodb").get_item(TableName="t", Key={"pk": {"S": "c"}})  # none applied


def test_iam_actions_of_requests() -> None:
    items = json.dumps({"TransactItems": [{"ConditionCheck": {}}, {"Update": {}}, {"Update": {}}]})
    assert iam_actions("dynamodb:TransactWriteItems", items) == ["dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"]
    assert iam_actions("dynamodb:TransactGetItems", b'{"TransactItems": [{"Get": {}}]}') == ["dynamodb:GetItem"]
    assert iam_actions("lambda:Invoke", b"{}") == ["lambda:InvokeFunction"]
    assert iam_actions("dynamodb:GetItem", b"{}") == ["dynamodb:GetItem"]
    assert iam_actions("dynamodb:TransactWriteItems", b"not json") == ["dynamodb:TransactWriteItems"]


def test_invoke_is_checked_as_lambda_invoke_function(account: Account, behaviour: Behaviour) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    execution_role = account.role("f-role", {"Effect": "Allow", "Action": "logs:*", "Resource": "*"})
    function_arn = account.root("lambda").create_function(
        FunctionName="f", Runtime="python3.13", Role=execution_role, Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
    )["FunctionArn"]  # fmt: skip
    behaviour.functions["f"] = lambda event: {"ok": event}
    allowed = account.as_role(
        account.role("caller", {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn}),
        "lambda",
    )
    refused = account.as_role(account.role("stranger", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}),
                              "lambda")  # fmt: skip

    assert json.load(allowed.invoke(FunctionName="f", Payload=b'{"a": 1}')["Payload"]) == {"ok": {"a": 1}}
    status, code, message = _error(lambda: refused.invoke(FunctionName="f", Payload=b"{}"))
    assert (status, code) == (403, "AccessDeniedException")
    assert message.endswith("is not authorized to perform: lambda:InvokeFunction")
    assert len(behaviour.calls) == 1


def test_step_functions_and_sns_answer_their_own_errors(account: Account) -> None:
    role = account.as_role(account.role("nothing", {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}),
                           "stepfunctions")  # fmt: skip
    assert _error(lambda: role.list_state_machines())[:2] == (400, "AccessDeniedException")
    topic = account.root("sns").create_topic(Name="events")["TopicArn"]
    sns = account.as_role(account.role("quiet", {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}), "sns")
    assert _error(lambda: sns.publish(TopicArn=topic, Message="x"))[:2] == (403, "AuthorizationError")


def test_unknown_credentials_are_the_account_root_and_issued_ones_must_sign_right(account: Account) -> None:
    anyone = boto3.client("dynamodb", region_name=REGION, endpoint_url=account.endpoint,
                          aws_access_key_id="whatever", aws_secret_access_key="whatever")  # fmt: skip
    anyone.put_item(TableName="t", Item={"pk": {"S": "root"}})

    role = account.role("signer", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
    issued = account.sessions.credentials(role, "test-session")
    forged = boto3.client("dynamodb", region_name=REGION, endpoint_url=account.endpoint,
                          aws_access_key_id=issued.access_key_id, aws_secret_access_key="not the secret",
                          aws_session_token=issued.session_token)  # fmt: skip
    status, code, _ = _error(lambda: forged.get_item(TableName="t", Key={"pk": {"S": "root"}}))
    assert (status, code) == (400, "InvalidSignatureException")
