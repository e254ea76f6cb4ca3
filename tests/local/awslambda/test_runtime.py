"""saga_local.awslambda.runtime: functions in worker processes of their own, as Lambda runs them.

The fixture functions are under tests/local/fixtures (one CodeUri per folder of `functions/`).
"""

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from saga_local.awslambda import invoke_hook
from saga_local.awslambda.account import ConcurrencyAccount, ReservationRefused
from saga_local.awslambda.runtime import InvokeResult, LambdaRuntime
from saga_local.core import patches
from saga_local.stepfunctions.inprocess import INTERPRETER_CONFIG
from saga_local.xray import segments as xray
from tests.support.aws import REGION
from tests.support.runtime import BEHAVIOURS, ENDPOINT, FIXTURES, LAYER, spec
from tests.support.wait import wait_for

# What Lambda adds to a function's own variables (the runtime's documented set, as emulated).
LAMBDA_VARIABLES = {
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "_HANDLER", "PYTHONPATH", "PATH", "LANG", "TZ",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
    "AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_PORT", "AWS_XRAY_CONTEXT_MISSING",
}  # fmt: skip


@pytest.fixture
def xray_listener() -> Iterator[socket.socket]:
    """A UDP socket standing in for the X-Ray daemon."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        yield sock


@pytest.fixture
def runtime(tmp_path: Path, xray_listener: socket.socket) -> Iterator[LambdaRuntime]:
    runtime = LambdaRuntime(
        ENDPOINT, REGION, tmp_path / "logs",
        xray_address=f"127.0.0.1:{xray_listener.getsockname()[1]}",
    )  # fmt: skip
    yield runtime
    runtime.close()


def _timed(call: Any) -> tuple[InvokeResult, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def alive(pid: int) -> bool:
    """The runtime reaps the workers it kills, so a dead one no longer exists at all."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------- isolation


def test_a_function_sees_only_its_code_its_layers_and_its_environment(runtime: LambdaRuntime) -> None:
    echo = spec("echo", "behaviours.handler.echo")
    runtime.register(echo)
    runtime.register(spec("other", "other_fn.handler.handler", code_dir=FIXTURES / "functions" / "other"))

    result = runtime.invoke("echo", {"try_import": ["fixture_layer", "boto3", "other_fn", "saga_local", "conftest"]})

    assert result.error is None
    seen = result.payload
    assert set(seen["env"]) == set(echo.environment) | LAMBDA_VARIABLES  # nothing of the test process leaks in
    assert seen["env"]["TABLE_NAME"] == "t"
    assert seen["env"]["AWS_ENDPOINT_URL"] == ENDPOINT
    assert seen["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "echo"
    assert seen["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert seen["env"]["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert seen["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert seen["env"]["LAMBDA_TASK_ROOT"] == str(BEHAVIOURS) == seen["cwd"]
    assert seen["env"]["_HANDLER"] == "behaviours.handler.echo"
    assert seen["env"]["AWS_XRAY_CONTEXT_MISSING"] == "IGNORE_ERROR"
    assert seen["path"][:2] == [str(BEHAVIOURS), str(LAYER)]
    repo = str(Path(__file__).resolve().parents[3])
    assert not any(entry in (repo, "", str(Path(repo, "saga_local"))) for entry in seen["path"])
    # its layer and the venv's packages, never another function's code or the repository's modules
    assert seen["importable"] == {
        "fixture_layer": True, "boto3": True, "other_fn": False, "saga_local": False, "conftest": False,
    }  # fmt: skip
    assert seen["context"]["function_name"] == "echo"
    assert seen["context"]["aws_request_id"] == result.request_id
    assert seen["context"]["invoked_function_arn"] == echo.arn
    assert seen["context"]["memory_limit_in_mb"] == "256"
    assert 0 < seen["context"]["remaining_ms"] <= 3000


def test_invoke_takes_a_name_or_an_arn(runtime: LambdaRuntime) -> None:
    echo = spec("echo", "behaviours.handler.echo")
    runtime.register(echo)

    assert runtime.invoke(echo.arn, {"n": 1}).payload["event"] == {"n": 1}
    assert runtime.invoke(f"{echo.arn}:$LATEST", {"n": 2}).payload["event"] == {"n": 2}
    with pytest.raises(LookupError):
        runtime.invoke("nobody", {})
    with pytest.raises(TypeError):  # an event JSON cannot carry is the caller's error...
        runtime.invoke("echo", {"not": {1, 2}})
    assert runtime.invoke("echo", {}).error is None  # ...and takes no worker with it


# ---------------------------------------------------------------- warm workers and concurrency


def test_a_warm_worker_is_reused_and_its_init_is_reported_once(runtime: LambdaRuntime, tmp_path: Path) -> None:
    runtime.register(spec("echo", "behaviours.handler.echo"))

    first = runtime.invoke("echo", {})
    second = runtime.invoke("echo", {})

    assert first.payload["pid"] == second.payload["pid"] == first.payload["init_pid"]
    assert (first.payload["invocations"], second.payload["invocations"]) == (1, 2)  # module state survives
    assert first.init_ms is not None
    assert first.init_ms > 0
    assert second.init_ms is None
    assert first.billed_ms >= first.duration_ms + first.init_ms
    reports = [line for line in (tmp_path / "logs" / "echo.log").read_text().splitlines() if line.startswith("REPORT")]
    assert len(reports) == 2
    assert "Init Duration" in reports[0]
    assert "Init Duration" not in reports[1]


def test_warm_up_pays_the_init_before_the_first_invocation(runtime: LambdaRuntime) -> None:
    runtime.register(spec("echo", "behaviours.handler.echo"))

    runtime.warm_up()

    [pid] = runtime.workers("echo")
    result = runtime.invoke("echo", {})
    assert result.payload["pid"] == pid
    assert result.init_ms is None


def test_when_every_environment_is_busy_a_new_one_starts_with_its_real_init(
    runtime: LambdaRuntime, tmp_path: Path, xray_listener: socket.socket
) -> None:
    """Lambda scales out: six invocations at once get six environments (six processes: none waited to reuse a busy
    one), the five new ones paying their init (cold start) in the REPORT line and the trace."""
    runtime.register(spec("echo", "behaviours.handler.echo"))
    runtime.warm_up()
    [warm] = runtime.workers("echo")
    root = xray.new_trace_id()

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: runtime.invoke("echo", {"sleep": 0.6}, trace_header=f"Root={root};Sampled=1"),
                                range(6)))  # fmt: skip

    assert all(result.error is None for result in results)
    pids = {result.payload["pid"] for result in results}
    assert len(pids) == 6
    assert warm in pids
    assert runtime.workers("echo") == sorted(pids)
    assert sum(result.init_ms is not None for result in results) == 5  # the warm one did not init again
    reports = [line for line in (tmp_path / "logs" / "echo.log").read_text().splitlines() if line.startswith("REPORT")]
    assert sum("Init Duration" in line for line in reports) == 5
    segments = [json.loads(xray_listener.recv(65536).split(b"\n", 1)[1]) for _ in range(6)]
    initializations = [s for s in segments if any(sub["name"] == "Initialization" for sub in s.get("subsegments", []))]
    assert len(initializations) == 5


def test_reserved_concurrency_throttles_past_its_limit_at_once_never_queues(runtime: LambdaRuntime) -> None:
    runtime.register(spec("echo", "behaviours.handler.echo", reserved_concurrency=2))
    runtime.register(spec("off", "behaviours.handler.echo", reserved_concurrency=0))
    runtime.warm_up(workers=2)

    with ThreadPoolExecutor(max_workers=4) as pool:
        timed = list(pool.map(lambda _: _timed(lambda: runtime.invoke("echo", {"sleep": 1.0})), range(4)))

    ran = [(result, seconds) for result, seconds in timed if result.throttled is None]
    throttled = [(result, seconds) for result, seconds in timed if result.throttled is not None]
    assert len(ran) == 2
    assert all(result.error is None for result, _ in ran)
    assert len(throttled) == 2
    for result, seconds in throttled:
        assert result.throttled == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert result.error == {"errorMessage": "Rate Exceeded.", "errorType": "TooManyRequestsException"}
        assert seconds < 0.5  # refused at once, not after the busy ones came back
    assert len(runtime.workers("echo")) == 2
    assert runtime.invoke("echo", {}).error is None  # capacity is back once they end
    off = runtime.invoke("off", {})
    assert off.throttled == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert runtime.workers("off") == []


def test_past_the_accounts_quota_every_function_is_throttled(tmp_path: Path) -> None:
    """A quota of 3: three invocations at once across two functions run, the others are refused with the
    account's reason (saga_local.awslambda.account has the arithmetic with reservations)."""
    runtime = LambdaRuntime(ENDPOINT, REGION, tmp_path / "logs", account=ConcurrencyAccount(quota=3),
                            xray_address="127.0.0.1:9")  # fmt: skip
    try:
        for name in ("a", "b"):
            runtime.register(spec(name, "behaviours.handler.echo"))
        with ThreadPoolExecutor(max_workers=5) as pool:
            results = list(pool.map(lambda n: runtime.invoke("ab"[n % 2], {"sleep": 1.0}), range(5)))
        assert sum(result.error is None for result in results) == 3
        assert [r.throttled for r in results if r.throttled] == ["ConcurrentInvocationLimitExceeded"] * 2
        with pytest.raises(ReservationRefused, match=r"below its minimum value of \[3\]"):
            runtime.register(spec("greedy", "behaviours.handler.echo", reserved_concurrency=1))
    finally:
        runtime.close()


# ---------------------------------------------------------------- timeouts, errors, crashes


def test_a_timed_out_worker_is_killed_and_the_next_invocation_gets_a_new_one(runtime: LambdaRuntime) -> None:
    runtime.register(spec("sleepy", "behaviours.handler.sleep", timeout_seconds=1))
    [pid] = [runtime.invoke("sleepy", {"seconds": 0}).payload["pid"]]

    started = time.monotonic()
    result = runtime.invoke("sleepy", {"seconds": 30})

    assert time.monotonic() - started < 2.5
    assert result.error == {
        "errorMessage": f"{result.request_id} Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout",
    }
    assert result.payload is None
    assert result.duration_ms == 1000.0
    assert not alive(pid)
    assert runtime.workers("sleepy") == []
    after = runtime.invoke("sleepy", {"seconds": 0})
    assert after.error is None
    assert after.payload["pid"] != pid
    assert after.init_ms is not None  # a cold start again
    assert "Task timed out after 1.00 seconds" in result.log_tail
    assert "Status: timeout" in result.log_tail


def test_a_handler_exception_comes_back_in_lambdas_error_format(runtime: LambdaRuntime) -> None:
    runtime.register(spec("decline", "behaviours.handler.decline"))

    result = runtime.invoke("decline", {"token": "tok_chargeDeclined"})

    assert result.payload is None
    error = result.error
    assert error is not None
    assert error["errorType"] == "PaymentDeclined"  # the class name, unqualified: what Retry/Catch match
    assert error["errorMessage"] == "card tok_chargeDeclined declined"
    assert error["requestId"] == result.request_id
    assert len(error["stackTrace"]) == 1  # the handler's frame, not the worker's
    assert 'handler.py", line' in error["stackTrace"][0]
    assert "in decline" in error["stackTrace"][0]
    assert "[ERROR] PaymentDeclined: card tok_chargeDeclined declined\rTraceback" in result.log_tail
    # the environment survives a handled error
    assert runtime.invoke("decline", {}).init_ms is None


def test_a_worker_that_exits_gives_runtime_exit_error(runtime: LambdaRuntime) -> None:
    runtime.register(spec("crash", "behaviours.handler.crash"))

    result = runtime.invoke("crash", {"status": 3})

    assert result.error == {
        "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: exit status 3",
        "errorType": "Runtime.ExitError",
    }
    assert "about to exit" in result.log_tail
    assert runtime.workers("crash") == []
    again = runtime.invoke("crash", {"status": 0}).error  # a new worker each time
    assert again is not None
    assert again["errorType"] == "Runtime.ExitError"


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("behaviours.broken.handler", "ConfigurationError", "REQUIRED_SETTING is not set"),
        ("behaviours.missing.handler", "Runtime.ImportModuleError", "Unable to import module 'behaviours.missing'"),
        ("behaviours.handler.nothing", "Runtime.HandlerNotFound", "Handler 'nothing' missing on module"),
    ],
)
def test_init_errors_are_the_invocations_error(
    runtime: LambdaRuntime, handler: str, error_type: str, message: str
) -> None:
    runtime.register(spec("broken", handler))

    result = runtime.invoke("broken", {})

    assert result.error is not None
    assert result.error["errorType"] == error_type
    assert result.error["errorMessage"].startswith(message)
    assert runtime.workers("broken") == []  # Lambda discards an environment whose init failed
    assert f"[ERROR] {error_type}" in result.log_tail


def test_an_answer_json_cannot_carry_is_a_marshal_error(runtime: LambdaRuntime) -> None:
    runtime.register(spec("sets", "behaviours.handler.unserializable"))

    error = runtime.invoke("sets", {}).error

    assert error is not None
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"


# ---------------------------------------------------------------- logs and traces


def test_what_a_function_prints_is_logged_between_start_end_and_report(runtime: LambdaRuntime, tmp_path: Path) -> None:
    runtime.register(spec("chatty", "behaviours.handler.chatty", memory_mb=512))

    result = runtime.invoke("chatty", {})

    lines = (tmp_path / "logs" / "chatty.log").read_text().splitlines()
    request_id = result.request_id
    assert lines[0] == "INIT_START Runtime Version: python3.13"
    assert lines[1] == f"START RequestId: {request_id} Version: $LATEST"
    assert json.loads(lines[2]) == {"level": "INFO", "message": "structured log", "service": "chatty"}
    assert lines[3] == "to stderr"
    assert lines[4].startswith("[WARNING]\t")
    assert lines[4].endswith(f"Z\t{request_id}\tvia the root logger")
    assert lines[5] == f"END RequestId: {request_id}"
    report = lines[6].split("\t")
    assert report[0] == f"REPORT RequestId: {request_id}"
    assert report[1] == f"Duration: {result.duration_ms:.2f} ms"
    assert report[2] == f"Billed Duration: {result.billed_ms} ms"
    assert report[3] == "Memory Size: 512 MB"
    assert report[4].startswith("Max Memory Used: ")
    assert 5 < int(report[4].split()[3]) < 100  # this worker's own peak, not the test process's
    assert report[5] == f"Init Duration: {result.init_ms:.2f} ms"
    assert result.log_tail == "\n".join(lines)


def test_a_traced_invocation_records_the_function_segment_the_sdk_nests_under(
    runtime: LambdaRuntime, xray_listener: socket.socket
) -> None:
    runtime.register(spec("echo", "behaviours.handler.echo"))
    runtime.register(spec("decline", "behaviours.handler.decline"))
    root, caller = xray.new_trace_id(), xray.new_segment_id()

    traced = runtime.invoke("echo", {}, trace_header=f"Root={root};Parent={caller};Sampled=1")
    segment = json.loads(xray_listener.recv(65536).split(b"\n", 1)[1])

    header = xray.parse_trace_header(traced.payload["env"]["_X_AMZN_TRACE_ID"])
    assert header == {"Root": root, "Parent": segment["id"], "Sampled": "1"}  # the SDK's facade is this segment
    assert segment["trace_id"] == root
    assert segment["parent_id"] == caller
    assert segment["name"] == "echo"
    assert segment["origin"] == "AWS::Lambda::Function"
    assert segment["start_time"] < segment["end_time"]
    assert segment["subsegments"][0]["name"] == "Initialization"  # a cold start
    assert "fault" not in segment

    untraced = runtime.invoke("echo", {})  # no header: none left over from the previous invocation
    assert "_X_AMZN_TRACE_ID" not in untraced.payload["env"]

    runtime.invoke("decline", {}, trace_header=f"Root={root};Parent={caller};Sampled=1")
    failed = json.loads(xray_listener.recv(65536).split(b"\n", 1)[1])
    assert failed["fault"] is True
    assert failed["cause"]["exceptions"][0]["type"] == "PaymentDeclined"


def test_close_stops_every_worker(runtime: LambdaRuntime, tmp_path: Path) -> None:
    runtime.register(spec("echo", "behaviours.handler.echo"))
    runtime.register(spec("sleepy", "behaviours.handler.sleep"))
    idle = runtime.invoke("echo", {}).payload["pid"]
    busy: dict[str, Any] = {}
    started = tmp_path / "started"
    event = {"seconds": 30, "started": str(started)}
    invocation = threading.Thread(target=lambda: busy.update(result=runtime.invoke("sleepy", event)))
    invocation.start()
    wait_for(started.exists, timeout=30, message="the sleepy invocation running in its worker")
    [busy_pid] = runtime.workers("sleepy")

    runtime.close()
    invocation.join(timeout=3)

    assert not invocation.is_alive()
    assert busy["result"].error["errorType"] == "Runtime.ExitError"
    assert not alive(idle)
    assert not alive(busy_pid)


# ---------------------------------------------------------------- behind moto


def test_moto_invocations_run_in_the_runtime(runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 Invoke and a Step Functions Task reach the worker; the Task's Catch matches the class name."""
    from moto import mock_aws

    patches.apply_all()
    decline = spec("decline", "behaviours.handler.decline")
    echo = spec("echo", "behaviours.handler.echo")
    for function in (decline, echo):
        runtime.register(function)
    previous = invoke_hook.run_lambdas_with(runtime.runner)
    try:
        with mock_aws(config=INTERPRETER_CONFIG):
            role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            lambda_ = boto3.client("lambda", region_name=REGION)
            for function in (decline, echo):
                lambda_.create_function(
                    FunctionName=function.name, Runtime="python3.13", Role=role, Handler=function.handler,
                    Code={"ZipFile": _empty_zip()}, Timeout=3,
                )  # fmt: skip
            answer = lambda_.invoke(FunctionName="echo", Payload=json.dumps({"n": 1}))
            assert json.loads(answer["Payload"].read())["event"] == {"n": 1}
            failed = lambda_.invoke(FunctionName="decline", Payload="{}")
            assert failed["FunctionError"] == "Unhandled"
            assert json.loads(failed["Payload"].read())["errorType"] == "PaymentDeclined"

            sfn = boto3.client("stepfunctions", region_name=REGION)
            definition = {
                "StartAt": "Charge",
                "States": {
                    "Charge": {"Type": "Task", "Resource": decline.arn, "End": True,
                               "Catch": [{"ErrorEquals": ["PaymentDeclined"], "Next": "Declined"}]},
                    "Declined": {"Type": "Pass", "Result": "declined", "End": True},
                },
            }  # fmt: skip
            machine = sfn.create_state_machine(
                name="m", definition=json.dumps(definition), roleArn=role, type="EXPRESS"
            )["stateMachineArn"]
            execution = sfn.start_sync_execution(stateMachineArn=machine, input="{}")
            assert (execution["status"], execution["output"]) == ("SUCCEEDED", '"declined"')
    finally:
        invoke_hook.run_lambdas_with(previous)


@pytest.mark.parametrize("style", ["function ARN", "lambda:invoke"])
def test_a_throttle_is_lambda_too_many_requests_for_invoke_and_for_step_functions(
    runtime: LambdaRuntime, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A throttled Invoke fails as an API call (HTTP 429, Lambda's Reason), not as a function error; a Task sees
    `Lambda.TooManyRequestsException`, which its Retry and Catch match, whatever the Resource's form."""
    from botocore.exceptions import ClientError
    from moto import mock_aws

    patches.apply_all()
    off = spec("off", "behaviours.handler.echo", reserved_concurrency=0)
    runtime.register(off)
    previous = invoke_hook.run_lambdas_with(runtime.runner)
    try:
        with mock_aws(config=INTERPRETER_CONFIG):
            role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            lambda_ = boto3.client("lambda", region_name=REGION)
            lambda_.create_function(FunctionName="off", Runtime="python3.13", Role=role, Handler=off.handler,
                                    Code={"ZipFile": _empty_zip()}, Timeout=3)  # fmt: skip
            with pytest.raises(ClientError) as refused:
                lambda_.invoke(FunctionName="off", Payload="{}")
            response: dict[str, Any] = dict(refused.value.response)
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert response["Error"] == {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."}
            assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"

            task: dict[str, Any] = {"Type": "Task", "End": True,
                                    "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"],
                                               "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.0}],
                                    "Catch": [{"ErrorEquals": ["Lambda.TooManyRequestsException"],
                                               "ResultPath": "$.error", "Next": "Throttled"}]}  # fmt: skip
            if style == "function ARN":
                task["Resource"] = off.arn
            else:
                task.update(Resource="arn:aws:states:::lambda:invoke", Parameters={"FunctionName": off.arn})
            definition = {"StartAt": "Call", "States": {"Call": task, "Throttled": {"Type": "Pass", "End": True}}}
            sfn = boto3.client("stepfunctions", region_name=REGION)
            machine = sfn.create_state_machine(
                name="m", definition=json.dumps(definition), roleArn=role, type="EXPRESS"
            )["stateMachineArn"]
            monkeypatch.setenv("SAGA_LOCAL_RETRY_SCALE", "0.01")
            execution = sfn.start_sync_execution(stateMachineArn=machine, input="{}")
            assert execution["status"] == "SUCCEEDED", execution
            error = json.loads(execution["output"])["error"]
            assert error["Error"] == "Lambda.TooManyRequestsException"
            assert error["Cause"].startswith("Rate Exceeded. (Service: AWSLambda; Status Code: 429;")
    finally:
        invoke_hook.run_lambdas_with(previous)


def _empty_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "runs from tests/local/fixtures")
    return buffer.getvalue()
