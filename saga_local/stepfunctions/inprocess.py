"""The whole saga inside one test process: moto's Step Functions interpreter runs the real ASL and
calls the real handlers in this process, against moto's tables.

    with mock_aws():
        saga = deploy_in_process()      # every resource of template.yaml, as the local stack provisions it
        response = saga.start_sync({"idempotencyKey": ..., "caller": ..., "request": {...}})  # StartSyncExecution

Good enough for tests, not a faithful Lambda: every function shares this process (one set of
modules, one os.environ), so invocations run one at a time. The local stack runs each function in
a worker process of its own instead.
"""

import contextlib
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.core.config import DefaultConfig

from saga_local.awslambda.invoke_hook import LambdaTarget, lambda_error, run_lambdas_with
from saga_local.cloudformation.provision import Stack, bootstrap, provision
from saga_local.cloudformation.specs import FunctionSpec
from saga_local.core import patches

# mock_aws(config=...) that makes moto execute state machines instead of answering "RUNNING" forever.
INTERPRETER_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}}


# ---------------------------------------------------------------- running a handler in this process


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object that Powertools and handlers read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{time.strftime('%Y/%m/%d')}/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


class InProcessRunner:
    """A `run_lambdas_with` runner: function name -> FunctionSpec, handler called in this process.

    All functions share one process, hence one os.environ and one copy of every module (saga_common's
    caches, Powertools' persistence layer), which on AWS each execution environment has to itself;
    and an execution environment runs one invocation at a time. So invocations run one at a time,
    under a lock (Parallel branches too), with the invoked function's own variables applied over the
    union of all functions' environments. Module-level state is still shared: a Logger built at import
    keeps the service name of the first function that imported it. A handler that moto's Task timeout
    abandons keeps the lock until it returns (there is no way to stop a thread).
    """

    def __init__(self, functions: Mapping[str, FunctionSpec]) -> None:
        self.functions = dict(functions)
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._lock = threading.Lock()
        self._saved_environ: dict[str, str | None] = {}
        self._added_paths: list[str] = []
        for spec in self.functions.values():
            for directory in (spec.code_dir, *spec.layer_dirs):
                if str(directory) not in sys.path:
                    sys.path.insert(0, str(directory))
                    self._added_paths.append(str(directory))
        # The union first, so what a module reads from the environment at import time is there.
        for spec in self.functions.values():
            self._set_environ(spec.environment)

    def __call__(self, target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        spec = self.functions.get(target.name)
        if spec is None:
            raise LookupError(f"no local code for Lambda function {target.name!r}")
        context = FakeLambdaContext(target.name, target.arn, spec.memory_mb, spec.timeout_seconds)
        with self._lock:
            self._set_environ(self._environment(target.name, spec))
            try:
                handler = self._handler(spec)
            except Exception as exc:  # Lambda's init errors, with their error types
                return None, {**lambda_error(exc, context.aws_request_id), "errorType": _init_error_type(exc)}
            try:
                payload = handler(event, context)
            except Exception as exc:
                return None, lambda_error(exc, context.aws_request_id)
        try:
            return json.loads(json.dumps(payload)), None  # what survives the wire, as the runtime checks
        except (TypeError, ValueError) as exc:
            return None, {
                "errorMessage": f"Unable to marshal response: {exc}",
                "errorType": "Runtime.MarshalError",
                "requestId": context.aws_request_id,
                "stackTrace": [],
            }

    def warm_up(self) -> None:
        """Import every handler now (the Lambda init phase), so no first invocation pays the imports
        inside a Task's 1 s timeout. A handler that fails to load is left for its invocations to
        report, as Lambda reports an init error."""
        with self._lock:
            for name, spec in self.functions.items():
                self._set_environ(self._environment(name, spec))  # what its module-level code reads at import
                with contextlib.suppress(Exception):
                    self._handler(spec)

    def close(self) -> None:
        """Put back the environment variables and sys.path this runner changed (imported modules stay)."""
        with self._lock:
            for name, value in self._saved_environ.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._saved_environ.clear()
            for path in self._added_paths:
                with contextlib.suppress(ValueError):
                    sys.path.remove(path)
            self._added_paths.clear()

    @staticmethod
    def _environment(name: str, spec: FunctionSpec) -> dict[str, str]:
        """What the Lambda runtime sets, then the function's own variables."""
        return {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            **spec.environment,
        }

    def _set_environ(self, variables: Mapping[str, str]) -> None:
        for name, value in variables.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        if spec.handler not in self._handlers:
            module_name, _, function_name = spec.handler.rpartition(".")
            module = importlib.import_module(module_name)
            handler = getattr(module, function_name, None)
            if not callable(handler):
                raise _HandlerNotFoundError(f"Handler '{function_name}' missing on module '{module_name}'")
            self._handlers[spec.handler] = handler
        return self._handlers[spec.handler]


class _HandlerNotFoundError(Exception):
    """The module imported but has no such handler: Lambda's Runtime.HandlerNotFound."""


def _init_error_type(exc: Exception) -> str:
    if isinstance(exc, _HandlerNotFoundError):
        return "Runtime.HandlerNotFound"
    if isinstance(exc, ImportError):
        return "Runtime.ImportModuleError"
    return "Runtime.Unknown"


# ---------------------------------------------------------------- the deployed saga


@dataclass
class LocalSaga:
    stack: Stack
    runner: InProcessRunner
    sfn: Any
    _previous_runner: Any = None
    _previous_sfn_config: Any = None

    @property
    def state_machine_arn(self) -> str:
        (arn,) = [ref for ref in self.stack.refs.values() if isinstance(ref, str) and ":stateMachine:" in ref]
        return arn

    def table(self, logical_id: str) -> Any:
        """The boto3 Table of a template table, by logical id."""
        return boto3.resource("dynamodb", region_name=self.stack.region).Table(self.stack.refs[logical_id])

    def start_sync(self, execution_input: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """StartSyncExecution, as API Gateway's integration calls it: the raw response."""
        kwargs = {"name": name} if name else {}
        return self.sfn.start_sync_execution(
            stateMachineArn=self.state_machine_arn, input=json.dumps(execution_input), **kwargs
        )

    def close(self) -> None:
        from moto.core.config import default_user_config

        run_lambdas_with(self._previous_runner)
        self.runner.close()
        default_user_config["stepfunctions"] = self._previous_sfn_config


def deploy_in_process(stack_name: str = "saga", region: str | None = None) -> LocalSaga:
    """Inside an active mock_aws: every resource of template.yaml provisioned as the local stack does
    (saga_local.cloudformation.provision), the functions run by an InProcessRunner, moto's interpreter, sync execution
    and retry scaling on. Call `close()` on the result when done."""
    from moto.core.config import default_user_config

    region = region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    patches.apply_all()
    # What mock_aws(config=INTERPRETER_CONFIG) does, for a mock already started without it. A new dict,
    # not an update: mock_aws restores top-level keys only, so a nested change would outlive it.
    previous_sfn_config = default_user_config.get("stepfunctions")
    default_user_config["stepfunctions"] = {**(previous_sfn_config or {}), **INTERPRETER_CONFIG["stepfunctions"]}

    def clients(service: str) -> Any:
        return boto3.client(service, region_name=region)  # type: ignore[call-overload]  # dynamic service name

    bootstrap(clients, region=region)  # the account's prerequisites, as `make bootstrap` deploys them
    stack = provision(clients, stack_name=stack_name, region=region)
    runner = InProcessRunner({spec.name: spec for spec in stack.functions})
    runner.warm_up()
    previous = run_lambdas_with(runner)
    return LocalSaga(
        stack=stack,
        runner=runner,
        sfn=boto3.client("stepfunctions", region_name=region),
        _previous_runner=previous,
        _previous_sfn_config=previous_sfn_config,
    )
