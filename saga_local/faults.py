"""Faults injected into the local stack, for tests and chaos runs. Off by default.

The JSON file named by SAGA_LOCAL_FAULTS_FILE (re-read whenever it changes) holds rules. A rule names a
Lambda function (`function`) or an AWS operation (`service` + `operation`):

    {"faults": [
      {"function": "PaymentsFunction",       # logical id or function name
       "match": {"action": "RefundPayment"}, # fields the event must have (optional)
       "fault": "error",                      # what happens (below); "error" when "error" is given
       "error": "PaymentProviderUnavailable", # the error type the invocation fails with
       "message": "injected",                 # optional
       "rate": 1.0,                           # share of matching invocations (default 1)
       "latencyMs": 0},                       # added before the invocation (optional, any fault)
      {"function": "InventoryFunction", "fault": "crash", "rate": 0.02},
      {"service": "dynamodb", "operation": ["PutItem", "TransactWriteItems"], "fault": "throttle", "rate": 0.05,
       "match": {"TableName": "*-PaymentsTable"}}
    ]}

Faults of a function invocation (`fault`):
- "error": the invocation fails with `error` (Lambda's error format); the handler does not run.
- "latency": only `latencyMs` is added (a rule with neither `fault` nor `error`).
- "timeout": the handler runs, then overruns the function's Timeout: the runtime kills the
  environment and answers Sandbox.Timedout, as Lambda does. Its writes happened; its reply is lost.
- "crash": the handler runs, then its process dies before replying (Runtime.ExitError): the worst
  case for idempotency, the side effect without the answer.
- "duplicate": the invocation is delivered twice (a Step Functions Task, or a stream batch): the
  handler runs twice, one after the other, and the caller gets the second reply.

Faults of an AWS call made by a function (requests whose User-Agent carries Lambda's
`exec-env/AWS_Lambda_*`; the stack's own emulators and scripts are never faulted):
- "throttle": answered with the service's throttling error, in the real wire shape (DynamoDB
  `ProvisionedThroughputExceededException`, JSON with `__type`; SNS `Throttling`, XML; `error` picks
  another code, e.g. DynamoDB's `ThrottlingException`). The functions' boto3 clients retry these per
  their retry configuration, as on AWS.
- "error": answered with `error` (default `InternalServerError`, HTTP `status` default 500).
- "latency": `latencyMs` added before moto answers.
`operation` is one name, a list, or "*"; `match` compares request parameters (a `*` in a value is a
wildcard). The first rule that matches and fires (by `rate`) applies; the rest are not asked.

Faults of a state machine execution (a rule naming `state`: a state's name, or "*" for any; the top level of an
execution only, not inside a Parallel's branches), applied once the state has run:
- "halt": the execution stops dead after the state, as if the orchestrator had gone away: no Catch, no
  compensation, no further state (it ends ABORTED; a synchronous caller gets 500). Its writes happened.
- "timeout": the state machine's own TimeoutSeconds is reached after the state: the execution ends TIMED_OUT
  (a synchronous caller gets 504), with the same effect on the order.

Every fault injected is counted by kind (`lambda.crash`, `aws.throttle`...) and by target, and the
counts are written beside the rules file, as `<rules file stem>.injected.json`, for reports.
A file that is not valid leaves faults off, with a log line naming the field.
"""

import fnmatch
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAMBDA_FAULTS = ("error", "latency", "timeout", "crash", "duplicate")
AWS_FAULTS = ("throttle", "error", "latency")
STATE_FAULTS = ("halt", "timeout")
# What the worker does after the handler ran (saga_local/awslambda/worker.py reads the same words).
WORKER_FAULTS = ("timeout", "crash")
LAMBDA_USER_AGENT_MARK = "exec-env/AWS_Lambda_"  # botocore adds AWS_EXECUTION_ENV to its User-Agent

log = logging.getLogger(__name__)


class FaultRuleError(ValueError):
    """A rules file that is not in the format above; the message names the field."""


@dataclass(frozen=True)
class Rule:
    kind: str  # one of LAMBDA_FAULTS or AWS_FAULTS
    rate: float
    latency_ms: int
    match: dict[str, Any]
    function: str | None = None  # a Lambda rule
    state: str | None = None  # a state machine rule: a state's name or "*"
    service: str | None = None  # an AWS rule
    operations: tuple[str, ...] = ()  # ("*",) for every operation
    error: str | None = None
    message: str = "fault injected by the local stack"
    status: int | None = None


@dataclass(frozen=True)
class Fault:
    """What to do to one invocation or call."""

    kind: str
    error: str | None
    message: str
    latency_ms: int
    status: int | None = None


@dataclass
class _Counts:
    by_kind: dict[str, int] = field(default_factory=dict)
    by_target: dict[str, int] = field(default_factory=dict)


def parse_rules(document: Any) -> list[Rule]:
    """The rules of a parsed rules file; FaultRuleError naming the first bad field."""
    if not isinstance(document, dict) or not isinstance(document.get("faults", []), list):
        raise FaultRuleError('faults: the file must be an object {"faults": [rule, ...]}')
    return [_rule(index, raw) for index, raw in enumerate(document.get("faults", []))]


def _rule(index: int, raw: Any) -> Rule:
    at = f"faults[{index}]"
    if not isinstance(raw, dict):
        raise FaultRuleError(f"{at}: must be an object")
    function, service, state = raw.get("function"), raw.get("service"), raw.get("state")
    if [function, service, state].count(None) != 2:
        raise FaultRuleError(f"{at}: name one of a function, a service (with its operation) or a state")
    error = raw.get("error")
    if error is not None and not (isinstance(error, str) and error):
        raise FaultRuleError(f"{at}.error: must be a non-empty string")
    rate = raw.get("rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise FaultRuleError(f"{at}.rate: must be a number from 0 to 1")
    latency = raw.get("latencyMs", 0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        raise FaultRuleError(f"{at}.latencyMs: must be a number of milliseconds, 0 or more")
    match = raw.get("match", {})
    if not isinstance(match, dict):
        raise FaultRuleError(f"{at}.match: must be an object of field: value")
    message = raw.get("message", Rule.message)
    if not isinstance(message, str):
        raise FaultRuleError(f"{at}.message: must be a string")
    status = raw.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
        raise FaultRuleError(f"{at}.status: must be an HTTP error status (400-599)")
    common: dict[str, Any] = {
        "rate": float(rate), "latency_ms": int(latency), "match": match, "error": error, "message": message,
    }  # fmt: skip
    if state is not None:
        if not isinstance(state, str) or not state:
            raise FaultRuleError(f'{at}.state: must be a state name or "*"')
        kind = raw.get("fault")
        if kind not in STATE_FAULTS:
            raise FaultRuleError(f"{at}.fault: must be one of {', '.join(STATE_FAULTS)} for a state")
        return Rule(kind=kind, state=state, **common)
    if function is not None:
        if not isinstance(function, str) or not function:
            raise FaultRuleError(f"{at}.function: must be a logical id or a function name")
        kind = raw.get("fault", "error" if error else "latency")
        if kind not in LAMBDA_FAULTS:
            raise FaultRuleError(f"{at}.fault: must be one of {', '.join(LAMBDA_FAULTS)} for a function")
        if kind == "error" and not error:
            raise FaultRuleError(f"{at}.error: required for an error fault (the error type to fail with)")
        return Rule(kind=kind, function=function, **common)
    if not isinstance(service, str) or not service:
        raise FaultRuleError(f"{at}.service: must be a boto3 service name, e.g. dynamodb")
    operation = raw.get("operation")
    operations = (operation,) if isinstance(operation, str) else operation
    if not isinstance(operations, list | tuple) or not operations or not all(isinstance(o, str) for o in operations):
        raise FaultRuleError(f'{at}.operation: required, an operation name, a list of them, or "*"')
    kind = raw.get("fault", "error" if error else "latency")
    if kind not in AWS_FAULTS:
        raise FaultRuleError(f"{at}.fault: must be one of {', '.join(AWS_FAULTS)} for an AWS operation")
    return Rule(kind=kind, service=service.lower(), operations=tuple(operations), status=status, **common)


class FaultInjector:
    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            from saga_local.core import config

            path = config.load().faults_file
        configured = path
        self.path = Path(configured) if configured else None
        self._stamp: tuple[int, int, int] | None = None
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._remove_interceptor: Callable[[], None] | None = None

    @property
    def counts_path(self) -> Path | None:
        return None if self.path is None else self.path.with_name(f"{self.path.stem}.injected.json")

    @property
    def injected(self) -> dict[str, int]:
        """Faults injected so far, by kind (`lambda.crash`, `aws.throttle`...)."""
        with self._lock:
            return dict(self._counts.by_kind)

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"byKind": dict(self._counts.by_kind), "byTarget": dict(self._counts.by_target)}

    def _load(self) -> list[Rule]:
        if self.path is None:
            return []
        try:
            status = self.path.stat()
            # Size and inode too: a rewrite within the filesystem clock's tick keeps the same mtime.
            stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
        except OSError:
            self._stamp, self._rules = None, []
            return self._rules
        if stamp != self._stamp:
            try:
                self._rules = parse_rules(json.loads(self.path.read_text()))
            except (OSError, ValueError) as error:  # a half-written file, or a bad rule: no faults until fixed
                if isinstance(error, FaultRuleError):
                    log.error("%s: %s; no faults injected", self.path, error)
                self._rules = []
            self._stamp = stamp
        return self._rules

    # ------------------------------------------------------------ Lambda invocations

    def for_invocation(self, function: tuple[str, ...], event: Any) -> Fault | None:
        """The fault to apply to this invocation of the function known by any of `function`'s names."""
        for rule in self._load():
            if rule.function is None or rule.function not in function:
                continue
            if rule.match and not (isinstance(event, dict) and all(event.get(k) == v for k, v in rule.match.items())):
                continue
            if not _fires(rule):
                continue
            self._count(
                f"lambda.{rule.kind}", f"{rule.function} {rule.kind}" + (f" {rule.error}" if rule.error else "")
            )
            return Fault(rule.kind, rule.error, rule.message, rule.latency_ms)
        return None

    def for_state(self, state: str) -> Fault | None:
        """The fault to apply to an execution once its top-level state `state` has run (halt or timeout)."""
        for rule in self._load():
            if rule.state is None or rule.state not in ("*", state) or not _fires(rule):
                continue
            self._count(f"execution.{rule.kind}", f"{state} {rule.kind}")
            return Fault(rule.kind, None, rule.message, rule.latency_ms)
        return None

    @staticmethod
    def apply_latency(fault: Fault | None) -> None:
        if fault and fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)

    # ------------------------------------------------------------ AWS calls

    def intercept_aws_calls(self) -> None:
        """Answer the functions' AWS calls per the AWS rules (saga_local.core.aws_calls), from now on."""
        if self.path is None or self._remove_interceptor is not None:
            return
        from saga_local.core import aws_calls

        self._remove_interceptor = aws_calls.add_interceptor(self._intercept)

    def close(self) -> None:
        if self._remove_interceptor is not None:
            self._remove_interceptor()
            self._remove_interceptor = None

    def for_aws_call(self, service: str, operation: str, params: Callable[[], dict[str, Any]]) -> Fault | None:
        """The fault to apply to a function's call of `service` `operation`; `params()` gives its parameters."""
        for rule in self._load():
            if rule.service != service or not ("*" in rule.operations or operation in rule.operations):
                continue
            if rule.match and not _params_match(rule.match, params()):
                continue
            if not _fires(rule):
                continue
            error = rule.error or (_THROTTLING.get(service, "ThrottlingException") if rule.kind == "throttle" else None)
            if rule.kind == "error" and error is None:
                error = "InternalServerError"
            self._count(f"aws.{rule.kind}", f"{service}.{operation} {rule.kind}" + (f" {error}" if error else ""))
            status = rule.status or (500 if rule.kind == "error" else 400)
            return Fault(rule.kind, error if rule.kind != "latency" else None, rule.message, rule.latency_ms, status)
        return None

    def _intercept(self, call: Any) -> tuple[int, dict[str, Any], Any] | None:
        headers = getattr(call.handler, "headers", None) or {}
        agent = headers.get("User-Agent") or headers.get("user-agent") or ""
        if LAMBDA_USER_AGENT_MARK not in agent:
            return None
        fault = self.for_aws_call(call.service, call.operation, lambda: _call_params(call.handler))
        if fault is None:
            return None
        FaultInjector.apply_latency(fault)
        if fault.error is None:
            return None  # latency only: moto answers
        return aws_error_reply(call.service, fault.error, fault.message, fault.status or 400)

    # ------------------------------------------------------------ counts

    def _count(self, kind: str, target: str) -> None:
        with self._lock:
            self._counts.by_kind[kind] = self._counts.by_kind.get(kind, 0) + 1
            self._counts.by_target[target] = self._counts.by_target.get(target, 0) + 1
            snapshot = {"byKind": dict(self._counts.by_kind), "byTarget": dict(self._counts.by_target)}
            path = self.counts_path
            if path is None:
                return
            # Under the lock, so the file never goes back to an older count; renamed in, never half written.
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                temporary.write_text(json.dumps(snapshot, indent=1, sort_keys=True))
                temporary.replace(path)
            except OSError:
                log.exception("cannot write fault counts to %s", path)


# The code a throttled call answers with, per service, as AWS sends it.
_THROTTLING = {"dynamodb": "ProvisionedThroughputExceededException", "sns": "Throttling", "sqs": "RequestThrottled"}
_QUERY_PROTOCOL = {"sns": "http://sns.amazonaws.com/doc/2010-03-31/"}  # XML error responses
_JSON_PREFIX = {"dynamodb": "com.amazonaws.dynamodb.v20120810#"}


def aws_error_reply(service: str, code: str, message: str, status: int) -> tuple[int, dict[str, Any], str]:
    """An AWS error response in the service's own wire format, as botocore parses it."""
    request_id = str(uuid.uuid4())
    if service in _QUERY_PROTOCOL:
        body = (
            f'<ErrorResponse xmlns="{_QUERY_PROTOCOL[service]}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{_xml_text(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body
    body = json.dumps({"__type": _JSON_PREFIX.get(service, "") + code, "message": message})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id, "x-amzn-ErrorType": code}
    return status, headers, body


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fires(rule: Rule) -> bool:
    return rule.rate >= 1 or random.random() < rule.rate  # noqa: S311 - not cryptography


def _params_match(wanted: dict[str, Any], params: dict[str, Any]) -> bool:
    for name, value in wanted.items():
        actual = params.get(name)
        if isinstance(value, str) and isinstance(actual, str):
            if not fnmatch.fnmatchcase(actual, value):
                return False
        elif actual != value:
            return False
    return True


def _call_params(handler: Any) -> dict[str, Any]:
    """A call's top-level parameters: the JSON body (DynamoDB), else the query parameters (SNS)."""
    body = getattr(handler, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.startswith("{"):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    query = getattr(handler, "querystring", None) or {}
    return {name: values[0] if isinstance(values, list) and values else values for name, values in query.items()}
