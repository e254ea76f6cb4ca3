"""Every Lambda invocation moto makes, handed to a runner of this project's choosing instead of Docker."""

import base64
import json
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any

from saga_local.awslambda.account import Throttled
from saga_local.core.patching import Change, Kind, Patch, Replace
from saga_local.xray.segments import trace_header_of


@dataclass(frozen=True)
class LambdaTarget:
    """The function moto was asked to invoke, as its backend knows it."""

    name: str
    arn: str
    timeout: int  # seconds, the function's configured Timeout
    memory_size: int  # MB
    # The Invoke request's X-Amzn-Trace-Id (`Root=...;Parent=...;Sampled=...`): the trace the function joins.
    trace_header: str | None = None


# runner(target, event) -> (payload, None) on success, (None, error payload) on an unhandled exception.
Runner = Callable[[LambdaTarget, Any], tuple[Any, dict[str, Any] | None]]

_runner: Runner | None = None
_log_tails = threading.local()  # the runner's invocation's log tail, for Invoke with `LogType: Tail`


def report_log_tail(tail: str) -> None:
    """For a runner: the end of what the invocation it is running logged, which Invoke returns base64-encoded in
    X-Amz-Log-Result (`LogResult`) when asked with `LogType: Tail`. Same thread as the call."""
    _log_tails.value = tail


def lambda_error(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """The payload Lambda's Python runtime returns for an unhandled exception. Step Functions takes
    `errorType` (the class name, unqualified) as the error name its Retry and Catch match."""
    error: dict[str, Any] = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    if request_id:
        error["requestId"] = request_id
    error["stackTrace"] = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    return error


def run_lambdas_with(runner: Runner | None) -> Runner | None:
    """From now on every invocation moto makes of a Lambda function calls `runner` instead of Docker:
    boto3 `lambda.invoke`, a Step Functions Task whose Resource is a function ARN or
    `arn:aws:states:::lambda:invoke`, SNS/S3/EventBridge targets. All of them reach
    `LambdaFunction.invoke`, so that is the one place hooked. The answer has Lambda's format: the
    JSON payload, or the error payload with `X-Amz-Function-Error: Unhandled`.

    `None` gives moto its own behaviour back. Returns the runner it replaces, so a fixture can
    restore it. The runner is process-wide (moto's backends are too), not per mock_aws.
    A runner that raises saga_local.awslambda.account.Throttled refuses the invocation as Lambda does: the
    Invoke call fails with TooManyRequestsException (HTTP 429), which Step Functions names
    `Lambda.TooManyRequestsException`; the function did not run.
    """
    global _runner
    INVOKE_HOOK.apply()
    previous, _runner = _runner, runner
    return previous


def _changes() -> Sequence[Change]:
    from moto.awslambda.models import LambdaFunction
    from moto.core.exceptions import JsonRESTError

    class TooManyRequests(JsonRESTError):
        code = 429

        def __init__(self, throttled: Throttled) -> None:
            super().__init__("TooManyRequestsException", str(throttled))
            # Lambda's body; the type goes in X-Amzn-ErrorType.
            self.description = json.dumps({"Reason": throttled.reason, "Type": "User", "message": str(throttled)})

    moto_invoke = LambdaFunction.invoke

    @wraps(moto_invoke)
    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        runner = _runner
        if runner is None:
            return moto_invoke(self, body, request_headers, response_headers)
        event = json.loads(body) if body else {}
        target = LambdaTarget(
            self.function_name, self.function_arn, int(self.timeout), int(self.memory_size),
            trace_header=trace_header_of(request_headers),
        )  # fmt: skip
        _log_tails.value = None
        try:
            payload, error = runner(target, event)
        except Throttled as throttled:  # the service refused the call: an API error, not a function error
            raise TooManyRequests(throttled) from None
        except Exception as exc:  # the runner itself broke: Lambda reports a runtime crash the same way
            payload, error = None, lambda_error(exc)
        response_headers["x-amz-executed-version"] = str(self.version)
        if tail := getattr(_log_tails, "value", None):  # moto drops the header unless LogType is Tail
            response_headers["x-amz-log-result"] = base64.b64encode(tail.encode()).decode()
        if error is not None:
            # "Unhandled" (not moto's "Handled"): what the Python runtime sets for a raised exception.
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(error).encode()
        return json.dumps(payload).encode()

    return [Replace(LambdaFunction, "invoke", invoke)]


INVOKE_HOOK = Patch(
    name="lambda-invoke-hook",
    kind=Kind.GAP,
    replaces="moto.awslambda.models.LambdaFunction.invoke: runs the code in Docker (or echoes the event without it)",
    because="every Lambda path (Invoke, Step Functions Tasks, SNS, stream mappings) must run the real "
    "handlers, without Docker; with no runner set it still calls moto's",
    changes=_changes,
)
