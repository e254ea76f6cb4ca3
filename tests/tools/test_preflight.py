"""`make preflight` against a local endpoint (a moto server), one test per failing case and the all-OK case.

The account is set up as a user would find it, with boto3 (API Gateway's update_account, IAM roles, a deployed
CloudFormation stack with reserved concurrency) or, where moto has no API for it, moto's backend (API Gateway's
account throttle). moto 5.2.5 does not implement Lambda's GetAccountSettings (404): where a test needs the
account's quota, `lambda_account` answers that one call on the test's client, as Lambda would for that account.
"""

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse, HTTPHeaders

from saga_local.cloudformation.template import TEMPLATE_PATH, load
from saga_ops import preflight
from saga_ops.capacity import Environment, load_environment, load_per_order
from tests.support import template as template_lists

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def fresh_account(endpoint: str) -> Iterator[None]:
    yield
    requests.post(f"{endpoint}/moto-api/reset", timeout=5)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


class Account:
    """Clients on the local endpoint, and the account settings Lambda would report (None: moto's own answer)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.lambda_settings: tuple[int, int] | None = None
        self.lambda_unreadable = False  # GetAccountSettings answers 404, as plain moto 5.2.5 does

    def __call__(self, service: str) -> Any:
        client = boto3.client(  # type: ignore[call-overload]  # dynamic service name
            service, region_name=REGION, endpoint_url=self.endpoint, aws_access_key_id="k", aws_secret_access_key="s"
        )
        if service == "lambda" and self.lambda_settings is not None:
            client.meta.events.register("before-call.lambda.GetAccountSettings", self._account_settings)
        if service == "lambda" and self.lambda_unreadable:
            client.meta.events.register("before-call.lambda.GetAccountSettings", self._not_found)
        return client

    def _not_found(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error: dict[str, Any] = {"Error": {"Code": "404", "Message": "Not yet implemented"}}
        error["ResponseMetadata"] = {"HTTPStatusCode": 404}
        return AWSResponse(self.endpoint, 404, HTTPHeaders(), None), error

    def _account_settings(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        """botocore uses a before-call handler's answer as the response: Lambda's GetAccountSettings shape."""
        assert self.lambda_settings is not None
        quota, unreserved = self.lambda_settings
        limit = {"ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": unreserved}
        return AWSResponse(self.endpoint, 200, HTTPHeaders(), None), {"AccountLimit": limit, "AccountUsage": {}}

    def bootstrap(self) -> str:
        """What `make bootstrap` leaves: a role, named in API Gateway's account settings."""
        role = self("iam").create_role(RoleName="apigw-logs", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        patch = {"op": "replace", "path": "/cloudwatchRoleArn", "value": role}
        self("apigateway").update_account(patchOperations=[patch])
        return role

    def deploy_stack(self, name: str, reserved: dict[str, int]) -> None:
        """A stack of that name already deployed, its functions reserving concurrency."""
        role = self("iam").create_role(RoleName=f"{name}-fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "")
        resources = {
            logical_id: {"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": f"{name}-{logical_id}", "Runtime": "python3.13", "Handler": "app.handler",
                "Role": role, "Code": {"ZipFile": "def handler(e, c): return e"},
                "ReservedConcurrentExecutions": value}}
            for logical_id, value in reserved.items()
        }  # fmt: skip
        self("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps({"Resources": resources}))


def _throttle_account(rate: float, burst: int) -> None:
    """API Gateway has no API to set the account throttle (a quota request does it): moto's backend stands in."""
    from moto.apigateway.models import apigateway_backends

    apigateway_backends[ACCOUNT][REGION].account.throttle_settings = {"rateLimit": rate, "burstLimit": burst}


def _environment(name: str, template: dict[str, Any], **parameters: str) -> Environment:
    environment = load_environment(name, template=template)
    return dataclasses.replace(environment, parameters={**environment.parameters, **parameters})


def _run(account: Account, environment: Environment, template: dict[str, Any]) -> dict[str, preflight.Check]:
    checks = preflight.run(environment, template, load_per_order(), account)
    return {check.name: check for check in checks}


def test_bootstrapped_default_account_passes_prod(endpoint: str, template: dict[str, Any]) -> None:
    account = Account(endpoint)
    account.bootstrap()
    account.lambda_settings = (1000, 1000)

    checks = _run(account, _environment("prod", template), template)

    statuses = {name: check.status for name, check in checks.items()}
    assert statuses == {
        "API Gateway CloudWatch Logs role": "OK",
        "Lambda reserved concurrency": "OK",
        "Lambda concurrency at the environment's rate": "OK",
        "API Gateway account throttle": "OK",
        "Step Functions Express (StartSyncExecution)": "UNKNOWN",  # AWS publishes no rate to read
        "SNS FIFO topic OrderEventsTopic": "OK",
        "SQS FIFO queue AuditQueue": "OK",
    }
    assert preflight.exit_status(list(checks.values())) == 0
    reserving = len(template_lists.reserving_concurrency())
    assert checks["Lambda reserved concurrency"].numbers["unreserved_after"] == 1000 - reserving * int(
        load_environment("prod", template=template).parameters["FunctionConcurrencyLimit"]
    )


def test_no_cloudwatch_role_will_fail_and_says_run_make_bootstrap(endpoint: str, template: dict[str, Any]) -> None:
    account = Account(endpoint)
    account.lambda_settings = (1000, 1000)

    checks = list(_run(account, _environment("default", template), template).values())

    (role,) = [c for c in checks if c.name == "API Gateway CloudWatch Logs role"]
    assert role.status == "WILL FAIL"
    assert "CloudWatch Logs role ARN must be set in account settings to enable logging" in role.message
    assert "make bootstrap" in role.fix
    assert preflight.exit_status(checks) == 1


def test_a_role_that_no_longer_exists_will_fail(endpoint: str, template: dict[str, Any]) -> None:
    account = Account(endpoint)
    role = account.bootstrap()
    account("iam").delete_role(RoleName=role.rsplit("/", 1)[-1])

    check = _run(account, _environment("default", template), template)["API Gateway CloudWatch Logs role"]

    assert check.status == "WILL FAIL"
    assert role in check.message


def test_prod_on_a_new_account_of_10_will_fail_and_names_the_increase(endpoint: str, template: dict[str, Any]) -> None:
    account = Account(endpoint)
    account.bootstrap()
    account.lambda_settings = (10, 10)
    reservation = int(load_environment("prod", template=template).parameters["FunctionConcurrencyLimit"])
    reserved = len(template_lists.reserving_concurrency()) * reservation

    check = _run(account, _environment("prod", template), template)["Lambda reserved concurrency"]

    assert check.status == "WILL FAIL"
    assert f"would leave {10 - reserved} unreserved" in check.message
    assert f"request a Lambda concurrency increase to at least {reserved + 100}" in check.fix
    assert "set FunctionConcurrencyLimit=0" in check.fix
    # the default environment reserves nothing: the same account deploys it
    default = _run(account, _environment("default", template), template)["Lambda reserved concurrency"]
    assert default.status == "OK"


def test_the_deployed_stacks_reservations_count_as_given_back(endpoint: str, template: dict[str, Any]) -> None:
    """Redeploying prod replaces its own reservations: only the difference comes out of the unreserved pool."""
    environment = _environment("prod", template, FunctionConcurrencyLimit="300")
    account = Account(endpoint)
    account.bootstrap()
    reserving = template_lists.reserving_concurrency()  # 250 each deployed, 300 each asked
    deployed, asked = 250 * len(reserving), 300 * len(reserving)
    account.deploy_stack(environment.stack_name, dict.fromkeys(reserving, 250))
    quota = asked + 100  # just enough: what is left unreserved after the change is Lambda's minimum
    account.lambda_settings = (quota, quota - deployed)

    check = _run(account, environment, template)["Lambda reserved concurrency"]

    assert check.status == "OK", check.message
    assert check.numbers["replaced"] == deployed
    assert check.numbers["unreserved_after"] == (quota - deployed) + deployed - asked == 100
    # another stack's reservations are not given back: the same request fails next to them
    other = dataclasses.replace(environment, stack_name="order-saga-other")
    assert _run(account, other, template)["Lambda reserved concurrency"].status == "WILL FAIL"


def test_reservation_below_the_models_need_is_a_risk(endpoint: str, template: dict[str, Any]) -> None:
    account = Account(endpoint)
    account.bootstrap()
    account.lambda_settings = (1000, 1000)

    check = _run(account, _environment("prod", template, FunctionConcurrencyLimit="5"), template)[
        "Lambda concurrency at the environment's rate"
    ]

    assert check.status == "RISK"
    assert "PaymentsFunction needs" in check.message
    assert "set FunctionConcurrencyLimit to at least" in check.fix


def test_api_rate_above_the_account_throttle_will_fail(endpoint: str, template: dict[str, Any]) -> None:
    account = Account(endpoint)
    account.bootstrap()
    account.lambda_settings = (1000, 1000)
    _throttle_account(rate=400.0, burst=800)  # prod asks 500/s, burst 1,000

    checks = list(_run(account, _environment("prod", template), template).values())

    (throttle,) = [c for c in checks if c.name == "API Gateway account throttle"]
    assert throttle.status == "WILL FAIL"
    assert "the account throttles every API of the region together at 400/s (burst 800)" in throttle.message
    assert "L-8A5B8E43" in throttle.fix
    assert preflight.exit_status(checks) == 1


def test_rate_above_the_sns_fifo_topic_limit_will_fail(endpoint: str, template: dict[str, Any]) -> None:
    account = Account(endpoint)
    account.bootstrap()
    account.lambda_settings = (1000, 1000)

    checks = _run(account, _environment("prod", template, ApiRateLimit="2000", ApiBurstLimit="4000"), template)

    sns = checks["SNS FIFO topic OrderEventsTopic"]
    assert sns.status == "WILL FAIL"
    assert "= 4000 messages/s, against 3000/s per topic" in sns.message  # 2 events per order, measured
    assert "FifoThroughputScope: MessageGroup" in sns.fix
    assert checks["API Gateway account throttle"].status == "OK"  # 2,000/s is within the account's 10,000


def test_what_moto_cannot_report_is_unknown_not_ok(endpoint: str, template: dict[str, Any]) -> None:
    """Plain moto 5.2.5 answers neither Lambda's GetAccountSettings nor Service Quotas for Lambda (the local stack's
    account emulation answers the first: the test makes it unreadable whichever endpoint serves it)."""
    account = Account(endpoint)
    account.lambda_unreadable = True
    account.bootstrap()

    checks = _run(account, _environment("prod", template), template)

    assert checks["Lambda reserved concurrency"].status == "UNKNOWN"
    assert "get_account_settings failed" in checks["Lambda reserved concurrency"].message
    # the outbox relay reserves nothing: whether the unreserved pool holds it is unknown too
    assert checks["Lambda concurrency at the environment's rate"].status == "UNKNOWN"
    assert preflight.exit_status(list(checks.values())) == 0


def test_report_has_one_sentence_per_check_and_json_the_same(endpoint: str, template: dict[str, Any]) -> None:
    account = Account(endpoint)
    environment = _environment("default", template)
    checks = preflight.run(environment, template, load_per_order(), account)

    text = preflight.report(checks, environment, endpoint)
    document = json.loads(preflight.to_json(checks, environment, endpoint))

    assert text.count("\n[") == len(checks)
    assert "[WILL FAIL] API Gateway CloudWatch Logs role:" in text
    assert document["will_fail"] is True
    assert [c["status"] for c in document["checks"]] == [c.status for c in checks]


def test_cli_names_a_bad_environment_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight.main(["--env", "staging"]) == 2
    assert "no environment 'staging' in samconfig.toml; it has: default, prod" in capsys.readouterr().err


def test_the_local_twin_runs_the_same_checks_on_the_running_stacks_endpoint(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`saga-ops preflight --local`: the running stack's endpoint, its functions standing for the deployed stack."""
    from saga_ops import cli

    functions = {"InventoryFunction": "order-saga-local-InventoryFunction"}
    running = {"endpoint": endpoint, "state": {"functions": functions}}
    monkeypatch.setattr(cli, "_running_stack", lambda: running)

    assert cli.main(["preflight", "--local", "--json"]) == 1  # this account has no CloudWatch Logs role
    document = json.loads(capsys.readouterr().out)
    assert document["stack"] == "order-saga-local"
    assert document["target"] == f"the local stack ({endpoint})"
    assert document["checks"][0]["status"] == "WILL FAIL"
    assert cli.main(["preflight", "--local", "--env", "staging"]) == 2
    assert "no environment 'staging'" in capsys.readouterr().err
