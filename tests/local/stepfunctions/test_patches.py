"""Each moto patch in saga_local.patches, one test per behaviour: a moto upgrade that reopens a gap fails here."""

import io
import json
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from saga_local import patches
from saga_local.awslambda.invoke_hook import LambdaTarget, lambda_error, run_lambdas_with
from saga_local.stepfunctions import timing
from saga_local.stepfunctions.inprocess import INTERPRETER_CONFIG
from saga_local.stepfunctions.sync_execution import START_SYNC_EXECUTION
from saga_local.xray.propagation import PROPAGATE_TRACES, STATE_MACHINE_ORIGIN
from saga_local.xray.segments import parse_trace_header

REGION = "us-east-1"


class OutOfStock(Exception):
    """A business error, as the saga's functions raise them: Step Functions must see this class name."""


class Behaviour:
    """A runner whose functions are Python callables: name -> fn(event) -> payload (or raise)."""

    def __init__(self, **functions: Callable[[Any], Any]) -> None:
        self.functions = functions
        self.calls: list[tuple[LambdaTarget, Any]] = []

    def __call__(self, target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        self.calls.append((target, event))
        try:
            return self.functions[target.name](event), None
        except Exception as exc:
            return None, lambda_error(exc)


class Local:
    """moto with its Step Functions interpreter: clients, a role, and helpers to add functions and machines."""

    def __init__(self) -> None:
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.role_arn = boto3.client("iam", region_name=REGION).create_role(
            RoleName="gaps", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]

    def function(self, name: str) -> str:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", "")
        return self.lambda_.create_function(
            FunctionName=name, Runtime="python3.13", Role=self.role_arn, Handler="app.handler",
            Code={"ZipFile": buffer.getvalue()}, Timeout=7, MemorySize=256,
        )["FunctionArn"]  # fmt: skip

    def machine(self, states: dict[str, Any], machine_type: str = "EXPRESS", **top: Any) -> str:
        definition = {"StartAt": next(iter(states)), "States": states, **top}
        return self.sfn.create_state_machine(
            name=f"m{len(self.sfn.list_state_machines()['stateMachines'])}", definition=json.dumps(definition),
            roleArn=self.role_arn, type=machine_type,
        )["stateMachineArn"]  # fmt: skip

    def run(self, machine_arn: str, execution_input: Any = None) -> dict[str, Any]:
        return self.sfn.start_sync_execution(stateMachineArn=machine_arn, input=json.dumps(execution_input or {}))


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[Local]:
    from moto import mock_aws

    patches.apply_all()
    with mock_aws(config=INTERPRETER_CONFIG):
        yield Local()


@pytest.fixture
def behaviour() -> Iterator[Behaviour]:
    """Install a Behaviour as the Lambda runner; the test fills in its functions."""
    runner = Behaviour()
    previous = run_lambdas_with(runner)
    yield runner
    assert run_lambdas_with(previous) is runner


# ---------------------------------------------------------------- DynamoDB


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


# ---------------------------------------------------------------- Lambda


@pytest.mark.parametrize("payload", [{"a": [1, "x"]}, [1, 2], "text", 42, None])
def test_lambda_invoke_calls_the_runner_and_returns_its_json_payload(
    local: Local, behaviour: Behaviour, payload: Any
) -> None:
    arn = local.function("echo")
    behaviour.functions["echo"] = lambda event: payload
    response = local.lambda_.invoke(FunctionName="echo", Payload=json.dumps({"in": 1}))
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == payload
    assert behaviour.calls == [(LambdaTarget("echo", arn, timeout=7, memory_size=256), {"in": 1})]


def test_lambda_unhandled_exception_returns_lambdas_error_payload(local: Local, behaviour: Behaviour) -> None:
    local.function("reserve")

    def reserve(event: Any) -> Any:
        raise OutOfStock("sku-1: 0 available")

    behaviour.functions["reserve"] = reserve
    response = local.lambda_.invoke(FunctionName="reserve", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "OutOfStock"
    assert error["errorMessage"] == "sku-1: 0 available"
    assert any("in reserve" in frame for frame in error["stackTrace"])


def test_lambda_runner_that_raises_is_reported_as_a_function_error(local: Local) -> None:
    local.function("broken")

    def runner(target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        raise LookupError(f"no code for {target.name}")

    previous = run_lambdas_with(runner)
    try:
        response = local.lambda_.invoke(FunctionName="broken", Payload=b"{}")
    finally:
        run_lambdas_with(previous)
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "LookupError"


def _task(arn: str, style: str, **state: Any) -> dict[str, Any]:
    """A Task invoking `arn` with the state input, in either of the two ways ASL can."""
    if style == "function ARN":
        return {"Type": "Task", "Resource": arn, **state}
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": arn, "Payload.$": "$"}, "ResultSelector": {"value.$": "$.Payload"},
            **state}  # fmt: skip


@pytest.mark.parametrize("style", ["function ARN", "lambda:invoke"])
def test_step_functions_task_runs_the_runner(local: Local, behaviour: Behaviour, style: str) -> None:
    arn = local.function("double")
    behaviour.functions["double"] = lambda event: {"n": event["n"] * 2}
    machine = local.machine({"Double": _task(arn, style, ResultPath="$.result", End=True)})
    result = local.run(machine, {"n": 21})
    assert result["status"] == "SUCCEEDED", result
    expected = {"n": 42} if style == "function ARN" else {"value": {"n": 42}}
    assert json.loads(result["output"]) == {"n": 21, "result": expected}


@pytest.mark.parametrize("style", ["function ARN", "lambda:invoke"])
def test_step_functions_retry_and_catch_match_the_exception_class_name(
    local: Local, behaviour: Behaviour, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(timing.RETRY_SCALE_ENV, "0.01")
    arn = local.function("reserve")
    attempts: list[Any] = []

    def reserve(event: Any) -> Any:
        attempts.append(event)
        raise OutOfStock("sku-1: 0 available")

    behaviour.functions["reserve"] = reserve
    machine = local.machine({
        "Reserve": _task(arn, style, Next="Done",
                         Retry=[{"ErrorEquals": ["PaymentDeclined"], "MaxAttempts": 3, "IntervalSeconds": 1},
                                {"ErrorEquals": ["OutOfStock"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                         Catch=[{"ErrorEquals": ["OutOfStock"], "ResultPath": "$.failure", "Next": "Caught"}]),
        "Caught": {"Type": "Pass", "End": True},
        "Done": {"Type": "Succeed"},
    })  # fmt: skip
    result = local.run(machine, {"orderId": "o-1"})
    assert result["status"] == "SUCCEEDED", result
    failure = json.loads(result["output"])["failure"]
    assert failure["Error"] == "OutOfStock"
    cause = json.loads(failure["Cause"])  # the error payload, as JSON text, as on AWS
    assert cause["errorType"] == "OutOfStock"
    assert cause["errorMessage"] == "sku-1: 0 available"
    assert len(attempts) == 2  # the first try and the one OutOfStock retry, not PaymentDeclined's three


def test_step_functions_uncaught_function_error_fails_the_execution_with_it(local: Local, behaviour: Behaviour) -> None:
    arn = local.function("charge")

    def charge(event: Any) -> Any:
        raise OutOfStock("no")

    behaviour.functions["charge"] = charge
    result = local.run(local.machine({"Charge": _task(arn, "function ARN", End=True)}))
    assert result["status"] == "FAILED"
    assert result["error"] == "OutOfStock"
    assert json.loads(result["cause"])["errorMessage"] == "no"


# ---------------------------------------------------------------- StartSyncExecution


def test_start_sync_execution_returns_succeeded_with_the_aws_response_shape(local: Local) -> None:
    machine = local.machine({"Greet": {"Type": "Pass", "Parameters": {"hello.$": "$.name"}, "End": True}})
    result = local.run(machine, {"name": "world"})
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"hello": "world"}
    assert json.loads(result["input"]) == {"name": "world"}
    assert result["stateMachineArn"] == machine
    assert result["executionArn"].startswith(machine.replace(":stateMachine:", ":express:") + ":")
    assert result["name"] in result["executionArn"]
    assert result["startDate"] <= result["stopDate"]
    assert result["billingDetails"] == {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100}
    assert "error" not in result


def test_start_sync_execution_returns_failed_with_error_and_cause(local: Local) -> None:
    machine = local.machine({"No": {"Type": "Fail", "Error": "SERVICE_UNAVAILABLE",
                                    "CausePath": "States.JsonToString($.why)"}})  # fmt: skip
    result = local.run(machine, {"why": {"code": "X"}})
    assert result["status"] == "FAILED"
    assert result["error"] == "SERVICE_UNAVAILABLE"
    assert json.loads(result["cause"]) == {"code": "X"}
    assert "output" not in result


def test_start_sync_execution_returns_timed_out(local: Local) -> None:
    machine = local.machine({"Wait": {"Type": "Wait", "Seconds": 5, "End": True}}, TimeoutSeconds=1)
    started = time.monotonic()
    result = local.run(machine)
    assert result["status"] == "TIMED_OUT"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("error", ["States.Timeout", "BillingUnavailable"])
def test_a_parallel_branch_failing_with_any_error_is_caught_by_the_parallels_catch(
    local: Local, behaviour: Behaviour, error: str
) -> None:
    arn = local.function("bill")

    def bill(event: Any) -> Any:
        if error == "States.Timeout":
            time.sleep(1.5)  # past the Task's TimeoutSeconds
            return {}
        raise type(error, (Exception,), {})("billing is down")

    behaviour.functions["bill"] = bill
    branch = {"StartAt": "Bill", "States": {"Bill": _task(arn, "function ARN", TimeoutSeconds=1, End=True)}}
    machine = local.machine({
        "Both": {"Type": "Parallel", "Branches": [branch], "ResultPath": "$.out",
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "End": True},
    })  # fmt: skip
    result = local.run(machine)
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["failure"]["Error"] == error


def test_start_sync_execution_is_refused_for_standard_machines(local: Local) -> None:
    machine = local.machine({"P": {"Type": "Pass", "End": True}}, machine_type="STANDARD")
    with pytest.raises(ClientError) as raised:
        local.run(machine)
    assert raised.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_start_sync_execution_works_against_a_moto_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients of a server must not prefix the host with `sync-` (it would not resolve)."""
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    START_SYNC_EXECUTION.apply()
    monkeypatch.setitem(default_user_config, "stepfunctions", INTERPRETER_CONFIG["stepfunctions"])
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=f"http://{host}:{port}")
        machine = sfn.create_state_machine(
            name="server-sync", roleArn="arn:aws:iam::123456789012:role/r", type="EXPRESS",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}}),
        )["stateMachineArn"]  # fmt: skip
        result = sfn.start_sync_execution(stateMachineArn=machine, input="{}")
        assert (result["status"], result["output"]) == ("SUCCEEDED", "1")
    finally:
        requests.post(f"http://{host}:{port}/moto-api/reset", timeout=5)
        server.stop()


# ---------------------------------------------------------------- Retry waits


def test_retry_scale_is_one_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(timing.RETRY_SCALE_ENV, raising=False)
    assert timing.retry_scale() == 1
    monkeypatch.setenv(timing.RETRY_SCALE_ENV, "-1")
    with pytest.raises(ValueError, match=timing.RETRY_SCALE_ENV):
        timing.retry_scale()


@pytest.mark.parametrize(
    "retrier",
    [
        {"IntervalSeconds": 2},  # waits 2 s * 0.25
        {"IntervalSeconds": 20, "MaxDelaySeconds": 2},  # capped at 2 s, * 0.25
    ],
    ids=["IntervalSeconds", "MaxDelaySeconds"],
)
def test_retry_waits_are_scaled_by_saga_local_retry_scale(
    local: Local, behaviour: Behaviour, monkeypatch: pytest.MonkeyPatch, retrier: dict[str, Any]
) -> None:
    arn = local.function("flaky")
    attempts: list[float] = []

    def flaky(event: Any) -> Any:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise TimeoutError("first attempt fails")
        return "ok"

    behaviour.functions["flaky"] = flaky
    machine = local.machine({"Flaky": _task(arn, "function ARN", End=True, Retry=[
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "JitterStrategy": "NONE", **retrier}]),
    })  # fmt: skip
    monkeypatch.setenv(timing.RETRY_SCALE_ENV, "0.25")
    result = local.run(machine)
    assert result["status"] == "SUCCEEDED", result
    wait = attempts[1] - attempts[0]
    assert 0.5 <= wait < 1.5, f"waited {wait:.2f} s, expected 2 s * 0.25"  # unscaled would be 2 s


def test_task_timeouts_are_scaled_by_saga_local_timeout_scale(
    local: Local, behaviour: Behaviour, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 s Task timeout that a 1.5 s invocation exceeds, unless the timeout scale gives it 3 s."""
    arn = local.function("slow")
    behaviour.functions["slow"] = lambda event: time.sleep(1.5) or "done"
    machine = local.machine({"Slow": _task(arn, "function ARN", End=True, TimeoutSeconds=1)})
    monkeypatch.delenv(timing.TIMEOUT_SCALE_ENV, raising=False)
    assert local.run(machine)["error"] == "States.Timeout"
    monkeypatch.setenv(timing.TIMEOUT_SCALE_ENV, "3")
    assert local.run(machine)["status"] == "SUCCEEDED"


# ---------------------------------------------------------------- JSONPath


def test_definite_json_paths_give_the_value_not_a_list(local: Local) -> None:
    """`$[0].invoiceId` after a Parallel state (as the saga's Bill state selects its branches' results)."""

    def branch(result: dict[str, str]) -> dict[str, Any]:
        return {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": result, "End": True}}}

    machine = local.machine({
        "Bill": {"Type": "Parallel", "Branches": [branch({"invoiceId": "inv_1"}), branch({"entryId": "le_1"})],
            "ResultSelector": {"invoiceId.$": "$[0].invoiceId", "entryId.$": "$[1].entryId"},
            "ResultPath": "$.billing", "Next": "Select"},
        "Select": {"Type": "Pass", "Parameters": {
            "second.$": "$.items[1].sku",
            "first.$": "$.items[0]",
            "filtered.$": "$.items[?(@.sku == 'b')].sku",  # a filter keeps giving a list (getmoto/moto#7825)
            "all.$": "$.items[*].sku",
            "billing.$": "$.billing",
        }, "End": True},
    })  # fmt: skip
    result = local.run(machine, {"items": [{"sku": "a"}, {"sku": "b"}]})
    assert json.loads(result["output"]) == {
        "second": "b",
        "first": {"sku": "a"},
        "filtered": ["b"],
        "all": ["a", "b"],
        "billing": {"invoiceId": "inv_1", "entryId": "le_1"},
    }


# ---------------------------------------------------------------- X-Ray traces

TRACE_ID = "1-6750a1b2-0123456789abcdef01234567"
API_SEGMENT_ID = "a1b2c3d4e5f60718"


class DaemonSocket:
    """A UDP socket standing in for the X-Ray daemon: the documents sent to it, decoded."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))

    def receive(self, count: int, timeout: float = 2.0) -> list[dict[str, Any]]:
        documents: list[dict[str, Any]] = []
        self.socket.settimeout(timeout)
        while len(documents) < count:
            header, _, body = self.socket.recv(65536).partition(b"\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))
        return documents

    def assert_nothing_sent(self) -> None:
        self.socket.settimeout(0.3)
        with pytest.raises(TimeoutError):
            self.socket.recv(65536)


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[DaemonSocket]:
    PROPAGATE_TRACES.apply()
    daemon = DaemonSocket()
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{daemon.socket.getsockname()[1]}")
    yield daemon
    daemon.socket.close()


def _split(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The execution's segment, and its Task subsegments by state name."""
    (execution,) = [doc for doc in documents if doc.get("origin") == STATE_MACHINE_ORIGIN]
    tasks = {doc["name"]: doc for doc in documents if doc.get("type") == "subsegment"}
    assert len(tasks) == len(documents) - 1
    return execution, tasks


def test_traced_execution_sends_its_segment_and_tasks_and_lambda_calls_get_their_task_as_parent(
    local: Local, behaviour: Behaviour, daemon: DaemonSocket
) -> None:
    """Parallel branches run in threads of their own: each Lambda call still gets its own Task's id."""
    arns = {name: local.function(name) for name in ("reserve", "invoice", "ledger")}
    for name in arns:
        behaviour.functions[name] = lambda event: event

    def branch(state: str, task: dict[str, Any]) -> dict[str, Any]:
        return {"StartAt": state, "States": {state: task}}

    machine = local.machine({
        "Reserve": _task(arns["reserve"], "function ARN", Next="Bill"),
        "Bill": {"Type": "Parallel", "End": True, "Branches": [
            branch("CreateInvoice", _task(arns["invoice"], "lambda:invoke", End=True)),
            branch("WriteLedgerEntry", _task(arns["ledger"], "function ARN", End=True)),
        ]},
    })  # fmt: skip
    header = f"Root={TRACE_ID};Parent={API_SEGMENT_ID};Sampled=1"
    result = local.sfn.start_sync_execution(stateMachineArn=machine, input="{}", traceHeader=header)
    assert result["status"] == "SUCCEEDED", result
    assert result["traceHeader"] == header

    execution, tasks = _split(daemon.receive(4))
    assert execution["name"] == machine.rsplit(":", 1)[1]
    assert (execution["trace_id"], execution["parent_id"]) == (TRACE_ID, API_SEGMENT_ID)
    assert execution["annotations"] == {"executionArn": result["executionArn"], "status": "SUCCEEDED"}
    assert "error" not in execution
    assert "fault" not in execution
    assert execution["start_time"] <= execution["end_time"]
    assert set(tasks) == {"Reserve", "CreateInvoice", "WriteLedgerEntry"}
    for task in tasks.values():
        assert (task["trace_id"], task["parent_id"]) == (TRACE_ID, execution["id"])
        assert execution["start_time"] <= task["start_time"] <= task["end_time"] <= execution["end_time"]
        assert "error" not in task

    state_of = {"reserve": "Reserve", "invoice": "CreateInvoice", "ledger": "WriteLedgerEntry"}
    assert len(behaviour.calls) == 3
    for target, _ in behaviour.calls:
        assert target.trace_header == f"Root={TRACE_ID};Parent={tasks[state_of[target.name]]['id']};Sampled=1"


def test_traced_execution_takes_the_http_header_and_marks_failed_tasks_and_execution_as_errors(
    local: Local, behaviour: Behaviour, daemon: DaemonSocket
) -> None:
    """The API sends `X-Amzn-Trace-Id` as an HTTP header. A caught error marks its Task too."""
    reserve, charge = local.function("reserve"), local.function("charge")

    def fail(message: str) -> Callable[[Any], Any]:
        def function(event: Any) -> Any:
            raise OutOfStock(message)

        return function

    behaviour.functions.update(reserve=fail("sku-1: 0 available"), charge=fail("card declined"))
    machine = local.machine({
        "Reserve": _task(reserve, "function ARN", Next="Charge",
                         Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Charge"}]),
        "Charge": _task(charge, "function ARN", End=True),
    })  # fmt: skip

    def add_header(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["X-Amzn-Trace-Id"] = f"Root={TRACE_ID};Parent={API_SEGMENT_ID};Sampled=1"

    local.sfn.meta.events.register("before-call.sfn.StartSyncExecution", add_header)
    result = local.run(machine)
    assert result["status"] == "FAILED"

    execution, tasks = _split(daemon.receive(3))
    assert (execution["trace_id"], execution["parent_id"]) == (TRACE_ID, API_SEGMENT_ID)
    assert execution["error"] is True
    assert execution["annotations"]["status"] == "FAILED"
    (exception,) = execution["cause"]["exceptions"]
    assert (exception["type"], exception["message"]) == ("OutOfStock", "card declined")  # not the stack trace
    for name, message in (("Reserve", "sku-1: 0 available"), ("Charge", "card declined")):
        assert tasks[name]["error"] is True
        (exception,) = tasks[name]["cause"]["exceptions"]
        assert (exception["type"], exception["message"]) == ("OutOfStock", message)
    assert [parse_trace_header(target.trace_header)["Root"] for target, _ in behaviour.calls] == [TRACE_ID] * 2


def test_timed_out_execution_is_a_fault(local: Local, daemon: DaemonSocket) -> None:
    machine = local.machine({"Wait": {"Type": "Wait", "Seconds": 5, "End": True}}, TimeoutSeconds=1)
    result = local.sfn.start_sync_execution(stateMachineArn=machine, input="{}", traceHeader=f"Root={TRACE_ID}")
    assert result["status"] == "TIMED_OUT"
    (execution,) = daemon.receive(1)
    assert "parent_id" not in execution  # the header had no Parent: the execution's segment is the trace's root
    assert execution["fault"] is True
    assert execution["cause"]["exceptions"][0]["type"] == "States.Timeout"
    assert execution["annotations"]["status"] == "TIMED_OUT"


def test_untraced_execution_sends_nothing_and_lambda_calls_get_no_header(
    local: Local, behaviour: Behaviour, daemon: DaemonSocket
) -> None:
    arn = local.function("echo")
    behaviour.functions["echo"] = lambda event: event
    result = local.run(local.machine({"Echo": _task(arn, "function ARN", End=True)}))
    assert result["status"] == "SUCCEEDED"
    assert "traceHeader" not in result
    daemon.assert_nothing_sent()
    assert [target.trace_header for target, _ in behaviour.calls] == [None]


def test_unsampled_execution_sends_nothing_but_passes_the_decision_on(
    local: Local, behaviour: Behaviour, daemon: DaemonSocket
) -> None:
    arn = local.function("echo")
    behaviour.functions["echo"] = lambda event: event
    machine = local.machine({"Echo": _task(arn, "function ARN", End=True)})
    local.sfn.start_sync_execution(stateMachineArn=machine, input="{}", traceHeader=f"Root={TRACE_ID};Sampled=0")
    daemon.assert_nothing_sent()
    header = parse_trace_header(behaviour.calls[0][0].trace_header)
    assert (header["Root"], header["Sampled"]) == (TRACE_ID, "0")


def test_lambda_invoke_passes_its_trace_header_to_the_runner(local: Local, behaviour: Behaviour) -> None:
    """Any Invoke request's X-Amzn-Trace-Id (a function calling another, SNS...), not only Step Functions'."""
    local.function("echo")
    behaviour.functions["echo"] = lambda event: event
    header = f"Root={TRACE_ID};Parent={API_SEGMENT_ID};Sampled=1"

    def add_header(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["X-Amzn-Trace-Id"] = header

    local.lambda_.meta.events.register("before-call.lambda.Invoke", add_header)
    local.lambda_.invoke(FunctionName="echo", Payload=b"{}")
    assert behaviour.calls[0][0].trace_header == header


# ---------------------------------------------------------------- Speed


@pytest.fixture
def server() -> Iterator[str]:
    """A moto server with every gap closed, as the local stack runs it; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    patches.apply_all()
    instance = ThreadedMotoServer(port=0, verbose=False)
    instance.start()
    host, port = instance.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        requests.post(f"http://{host}:{port}/moto-api/reset", timeout=5)
        instance.stop()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="k",
                        aws_secret_access_key="s")  # fmt: skip


def _streamed_table(endpoint: str, name: str) -> tuple[Any, str]:
    dynamodb = _client("dynamodb", endpoint)
    stream_arn = dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk")],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]  # fmt: skip
    return dynamodb, stream_arn


def _stream_events(endpoint: str, stream_arn: str) -> list[str]:
    streams = _client("dynamodbstreams", endpoint)
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [f"{r['eventName']} {r['dynamodb']['Keys']['sk']['S']}" for r in records]


def test_cancelled_transaction_leaves_items_and_stream_as_they_were(server: str) -> None:
    """moto rolls a transaction back by copying whole tables; the local stack copies only the items it
    touches: a cancellation after some writes must still undo them, and their stream records."""
    dynamodb, stream_arn = _streamed_table(server, "tx")
    dynamodb.put_item(TableName="tx", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "tx", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": "tx", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
            {"ConditionCheck": {"TableName": "tx", "Key": {"pk": {"S": "a"}, "sk": {"S": "3"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])  # fmt: skip
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    items = dynamodb.scan(TableName="tx")["Items"]
    assert items == [{"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}}]
    assert _stream_events(server, stream_arn) == ["INSERT 1"]


def test_committed_transaction_writes_every_item_and_its_stream_records(server: str) -> None:
    dynamodb, stream_arn = _streamed_table(server, "tx")
    dynamodb.put_item(TableName="tx", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    dynamodb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "tx", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        {"Put": {"TableName": "tx", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
    ])  # fmt: skip
    items = sorted(dynamodb.scan(TableName="tx")["Items"], key=lambda item: item["sk"]["S"])
    assert items == [{"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "2"}}, {"pk": {"S": "a"}, "sk": {"S": "2"}}]
    assert _stream_events(server, stream_arn) == ["INSERT 1", "MODIFY 1", "INSERT 2"]


def test_remembered_routes_still_tell_each_service_apart(server: str) -> None:
    """Routes are remembered by signature: DynamoDB and DynamoDB Streams share a signing name, SQS and SNS
    share nothing but the server."""
    dynamodb, stream_arn = _streamed_table(server, "routes")
    sqs, sns = _client("sqs", server), _client("sns", server)
    for _ in range(2):
        assert dynamodb.list_tables()["TableNames"] == ["routes"]
        assert _client("dynamodbstreams", server).describe_stream(StreamArn=stream_arn)["StreamDescription"]
        assert sqs.create_queue(QueueName="q")["QueueUrl"].endswith("/q")
        assert sns.create_topic(Name="t")["TopicArn"].endswith(":t")
