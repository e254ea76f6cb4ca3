"""saga_local.xray.propagation: executions and their Tasks in the caller's trace."""

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from saga_local.xray.propagation import PROPAGATE_TRACES, STATE_MACHINE_ORIGIN
from saga_local.xray.segments import parse_trace_header
from tests.support.emulator import Behaviour, Local, OutOfStock, lambda_task

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
        "Reserve": lambda_task(arns["reserve"], "function ARN", Next="Bill"),
        "Bill": {"Type": "Parallel", "End": True, "Branches": [
            branch("CreateInvoice", lambda_task(arns["invoice"], "lambda:invoke", End=True)),
            branch("WriteLedgerEntry", lambda_task(arns["ledger"], "function ARN", End=True)),
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
        "Reserve": lambda_task(reserve, "function ARN", Next="Charge",
                         Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Charge"}]),
        "Charge": lambda_task(charge, "function ARN", End=True),
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


@pytest.mark.parametrize("how", ["traceHeader field", "HTTP header"])
def test_an_asynchronous_execution_joins_its_callers_trace_and_is_sent_when_it_ends(
    local: Local, behaviour: Behaviour, daemon: DaemonSocket, how: str
) -> None:
    """The recovery sweep starts executions with StartExecution from a traced Lambda (the X-Ray SDK adds the
    HTTP header to the call): the recovery's steps belong to the sweep's trace, under the call that started them."""
    reserve, charge = local.function("reserve"), local.function("charge")
    behaviour.functions.update(reserve=lambda event: event, charge=lambda event: event)
    machine = local.machine({
        "Reserve": lambda_task(reserve, "function ARN", Next="Charge"),
        "Charge": lambda_task(charge, "function ARN", End=True),
    })  # fmt: skip
    header = f"Root={TRACE_ID};Parent={API_SEGMENT_ID};Sampled=1"
    if how == "HTTP header":

        def add_header(params: dict[str, Any], **_: Any) -> None:
            params["headers"]["X-Amzn-Trace-Id"] = header

        local.sfn.meta.events.register("before-call.sfn.StartExecution", add_header)
        started = local.sfn.start_execution(stateMachineArn=machine, input="{}")
    else:
        started = local.sfn.start_execution(stateMachineArn=machine, input="{}", traceHeader=header)

    execution, tasks = _split(daemon.receive(3, timeout=10))
    assert (execution["trace_id"], execution["parent_id"]) == (TRACE_ID, API_SEGMENT_ID)
    assert execution["annotations"] == {"executionArn": started["executionArn"], "status": "SUCCEEDED"}
    assert set(tasks) == {"Reserve", "Charge"}
    for task in tasks.values():
        assert (task["trace_id"], task["parent_id"]) == (TRACE_ID, execution["id"])
    assert [parse_trace_header(target.trace_header)["Parent"] for target, _ in behaviour.calls] == [
        tasks["Reserve"]["id"], tasks["Charge"]["id"],
    ]  # fmt: skip


def test_a_failed_asynchronous_execution_is_an_error_in_the_trace(local: Local, daemon: DaemonSocket) -> None:
    machine = local.machine({"Fail": {"Type": "Fail", "Error": "Halted", "Cause": "stopped"}})
    local.sfn.start_execution(stateMachineArn=machine, input="{}", traceHeader=f"Root={TRACE_ID};Sampled=1")
    (execution,) = daemon.receive(1, timeout=10)
    assert execution["error"] is True
    assert execution["annotations"]["status"] == "FAILED"
    assert execution["cause"]["exceptions"][0]["type"] == "Halted"


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
    result = local.run(local.machine({"Echo": lambda_task(arn, "function ARN", End=True)}))
    assert result["status"] == "SUCCEEDED"
    assert "traceHeader" not in result
    daemon.assert_nothing_sent()
    assert [target.trace_header for target, _ in behaviour.calls] == [None]


def test_unsampled_execution_sends_nothing_but_passes_the_decision_on(
    local: Local, behaviour: Behaviour, daemon: DaemonSocket
) -> None:
    arn = local.function("echo")
    behaviour.functions["echo"] = lambda event: event
    machine = local.machine({"Echo": lambda_task(arn, "function ARN", End=True)})
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
