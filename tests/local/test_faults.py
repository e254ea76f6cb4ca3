"""saga_local.faults: the rule format, and each kind of fault as the functions and their callers see it."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from saga_local.awslambda.runtime import LambdaRuntime
from saga_local.faults import FaultInjector, FaultRuleError, parse_rules
from tests.support.aws import REGION
from tests.support.runtime import ENDPOINT, spec


def write_rules(path: Path, *rules: dict[str, Any]) -> None:
    path.write_text(json.dumps({"faults": list(rules)}))


@pytest.fixture
def rules_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "faults.json"
    monkeypatch.setenv("SAGA_LOCAL_FAULTS_FILE", str(path))
    return path


@pytest.fixture
def runtime(tmp_path: Path, rules_file: Path) -> Iterator[LambdaRuntime]:
    runtime = LambdaRuntime(ENDPOINT, REGION, tmp_path / "logs", xray_address="127.0.0.1:9")
    yield runtime
    runtime.close()


# ---------------------------------------------------------------- the rule format


def test_the_original_rule_format_still_means_an_error_or_a_latency() -> None:
    error, latency = parse_rules({"faults": [
        {"function": "PaymentsFunction", "match": {"action": "RefundPayment"}, "error": "PaymentProviderUnavailable"},
        {"function": "PaymentsFunction", "latencyMs": 200, "rate": 0.5},
    ]})  # fmt: skip
    assert (error.kind, error.error, error.rate) == ("error", "PaymentProviderUnavailable", 1.0)
    assert (latency.kind, latency.latency_ms, latency.rate) == ("latency", 200, 0.5)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"function": "F", "fault": "explode"}, "faults[0].fault"),
        ({"function": "F", "fault": "error"}, "faults[0].error"),
        ({"function": "F", "rate": 1.5}, "faults[0].rate"),
        ({"function": "F", "latencyMs": -1}, "faults[0].latencyMs"),
        ({"function": "F", "service": "dynamodb"}, "faults[0]"),
        ({"service": "dynamodb", "fault": "throttle"}, "faults[0].operation"),
        ({"service": "dynamodb", "operation": "PutItem", "fault": "crash"}, "faults[0].fault"),
        ({"service": "sns", "operation": "Publish", "fault": "error", "status": 200}, "faults[0].status"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(rule: dict[str, Any], field: str) -> None:
    with pytest.raises(FaultRuleError, match=rf"^{field.replace('[', r'\[').replace(']', r'\]')}[:.]"):
        parse_rules({"faults": [rule]})


def test_a_bad_rules_file_injects_nothing(rules_file: Path) -> None:
    write_rules(rules_file, {"function": "F", "error": "Boom", "rate": 7})
    assert FaultInjector().for_invocation(("F",), {}) is None


def test_rate_match_and_counts(rules_file: Path) -> None:
    write_rules(
        rules_file,
        {"function": "F", "match": {"action": "ChargePayment"}, "error": "Boom"},
        {"function": "F", "fault": "crash", "rate": 0},
    )
    injector = FaultInjector()
    assert injector.for_invocation(("F",), {"action": "RefundPayment"}) is None
    assert injector.for_invocation(("G",), {"action": "ChargePayment"}) is None
    fault = injector.for_invocation(("Logical", "F"), {"action": "ChargePayment"})
    assert fault is not None
    assert (fault.kind, fault.error) == ("error", "Boom")
    assert injector.injected == {"lambda.error": 1}
    written = json.loads((rules_file.parent / "faults.injected.json").read_text())
    assert written == {"byKind": {"lambda.error": 1}, "byTarget": {"F error Boom": 1}}


# ---------------------------------------------------------------- faults of an invocation


def test_a_crash_after_the_side_effect_loses_the_reply(
    runtime: LambdaRuntime, rules_file: Path, tmp_path: Path
) -> None:
    runtime.register(spec("fn", "behaviours.handler.sleep"))
    write_rules(rules_file, {"function": "fn", "fault": "crash"})
    result = runtime.invoke("fn", {"seconds": 0})
    assert result.payload is None
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in result.error["errorMessage"]
    assert "sleeping 0 s" in (tmp_path / "logs" / "fn.log").read_text()  # the handler ran: its effects exist
    write_rules(rules_file)
    assert runtime.invoke("fn", {"seconds": 0}).error is None  # a new environment answers the next one


def test_a_timeout_runs_the_handler_then_overruns_the_functions_timeout(
    runtime: LambdaRuntime, rules_file: Path, tmp_path: Path
) -> None:
    runtime.register(spec("fn", "behaviours.handler.sleep", timeout_seconds=1))
    write_rules(rules_file, {"function": "fn", "fault": "timeout"})
    result = runtime.invoke("fn", {"seconds": 0})
    assert result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert result.duration_ms >= 1000
    assert "sleeping 0 s" in (tmp_path / "logs" / "fn.log").read_text()
    assert runtime.faults.injected == {"lambda.timeout": 1}


def test_a_duplicate_delivery_runs_the_handler_twice_and_answers_the_second(
    runtime: LambdaRuntime, rules_file: Path
) -> None:
    runtime.register(spec("fn", "behaviours.handler.echo"))
    write_rules(rules_file, {"function": "fn", "fault": "duplicate"})
    result = runtime.invoke("fn", {"n": 1})
    assert result.error is None
    assert result.payload["invocations"] == 2  # the same warm environment ran it twice
    assert result.payload["event"] == {"n": 1}


def test_an_error_fault_does_not_run_the_handler(runtime: LambdaRuntime, rules_file: Path, tmp_path: Path) -> None:
    runtime.register(spec("fn", "behaviours.handler.sleep"))
    write_rules(rules_file, {"function": "fn", "error": "PaymentProviderUnavailable", "message": "down"})
    result = runtime.invoke("fn", {"seconds": 0})
    assert result.error == {"errorMessage": "down", "errorType": "PaymentProviderUnavailable"}
    assert "sleeping" not in (tmp_path / "logs" / "fn.log").read_text()


# ---------------------------------------------------------------- faults of an AWS call


@pytest.fixture
def aws(rules_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultInjector]:
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "local")
    injector = FaultInjector()
    injector.intercept_aws_calls()
    with mock_aws():
        yield injector
    injector.close()


def _client(service: str, monkeypatch: pytest.MonkeyPatch, *, in_lambda: bool, attempts: int = 3) -> Any:
    # `attempts`: retries after the first call (botocore's max_attempts)
    """A client as a function builds one (botocore puts AWS_EXECUTION_ENV in its session's User-Agent), or as a
    script does."""
    if in_lambda:
        monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.13")
    else:
        monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)
    config = Config(retries={"max_attempts": attempts, "mode": "standard"})
    session = boto3.session.Session()  # a new User-Agent
    return session.client(service, region_name=REGION, config=config)  # type: ignore[call-overload]  # dynamic service name


def test_a_throttled_dynamodb_call_is_retried_by_the_client_then_fails_with_the_aws_error(
    aws: FaultInjector, rules_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _client("dynamodb", monkeypatch, in_lambda=False)
    script.create_table(
        TableName="stack-OrdersTable", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    write_rules(rules_file, {"service": "dynamodb", "operation": ["PutItem"], "fault": "throttle",
                             "match": {"TableName": "*-OrdersTable"}})  # fmt: skip
    script.put_item(TableName="stack-OrdersTable", Item={"pk": {"S": "script"}})  # not a function: not faulted
    function = _client("dynamodb", monkeypatch, in_lambda=True, attempts=3)
    with pytest.raises(ClientError) as raised:
        function.put_item(TableName="stack-OrdersTable", Item={"pk": {"S": "fn"}})
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 3  # throttling is retried
    assert aws.injected == {"aws.throttle": 4}  # the first attempt and its 3 retries
    function.get_item(TableName="stack-OrdersTable", Key={"pk": {"S": "script"}})  # another operation: not faulted


def test_a_throttled_sns_publish_gets_the_xml_throttling_error(
    aws: FaultInjector, rules_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _client("sns", monkeypatch, in_lambda=False).create_topic(Name="events")["TopicArn"]
    write_rules(rules_file, {"service": "sns", "operation": "*", "fault": "throttle", "rate": 1})
    with pytest.raises(ClientError) as raised:
        _client("sns", monkeypatch, in_lambda=True, attempts=0).publish(TopicArn=topic, Message="m")
    assert raised.value.response["Error"]["Code"] == "Throttling"
    assert aws.counts()["byTarget"] == {"sns.Publish throttle Throttling": 1}


def test_an_aws_error_fault_answers_500_and_latency_only_lets_moto_answer(
    aws: FaultInjector, rules_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = _client("dynamodb", monkeypatch, in_lambda=True, attempts=0)
    write_rules(rules_file, {"service": "dynamodb", "operation": "ListTables", "fault": "error"})
    with pytest.raises(ClientError) as raised:
        function.list_tables()
    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    write_rules(rules_file, {"service": "dynamodb", "operation": "ListTables", "latencyMs": 1})
    assert function.list_tables()["TableNames"] == []
    assert aws.injected == {"aws.error": 1, "aws.latency": 1}
