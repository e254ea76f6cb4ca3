"""The whole saga inside one test process: moto's Step Functions interpreter runs the real ASL and
calls the real handlers in this process, against moto's tables.

    with mock_aws(config=INTERPRETER_CONFIG):   # the `aws` fixture of tests/conftest.py
        saga = deploy_in_process(aws)
        response = saga.start_sync({"idempotencyKey": ..., "request": {...}})  # StartSyncExecution

Good enough for tests, not a faithful Lambda: every function shares this process (one set of
modules, one os.environ), so invocations run one at a time. The local stack runs each function in
a worker process of its own instead.
"""

import contextlib
import importlib
import io
import json
import os
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from saga_local import asl
from saga_local import template as cfn
from saga_local.intrinsics import Resolver, UnresolvableError
from saga_local.moto_gaps import (
    LambdaTarget,
    close_all_gaps,
    lambda_error,
    run_lambdas_with,
)

ROOT = cfn.ROOT
# mock_aws(config=...) that makes moto execute state machines instead of answering "RUNNING" forever.
INTERPRETER_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "local",
    "AWS::URLSuffix": "amazonaws.com",
}
# SAM's own defaults when neither the function nor Globals set them.
SAM_DEFAULTS = {"Timeout": 3, "MemorySize": 128}

# ---------------------------------------------------------------- the functions, as template.yaml declares them


@dataclass(frozen=True)
class FunctionSpec:
    """What a Lambda execution environment is made of, for one AWS::Serverless::Function."""

    logical_id: str
    code_dir: Path
    handler: str  # "package.module.function"
    environment: dict[str, str]
    timeout: int
    memory_size: int
    runtime: str
    layer_dirs: tuple[Path, ...] = ()


def functions_from_template(
    physical: Mapping[str, str],
    template: dict[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function of template.yaml (or those named in `only`), keyed by logical id:
    CodeUri, Handler, Runtime, Timeout, MemorySize, Layers (a layer's ContentUri, as source) and the environment
    (Globals' variables, then the function's own). Intrinsics are resolved with `physical`, which maps
    a logical id to what its Ref gives (a table name...) and "LogicalId.Attribute" to a GetAtt (an
    ARN); pseudo parameters and parameter defaults fill in the rest."""
    template = template if template is not None else cfn.load()
    defaults = {name: spec["Default"] for name, spec in template.get("Parameters", {}).items() if "Default" in spec}

    def attribute(logical_id: str, name: str) -> Any:
        if f"{logical_id}.{name}" not in physical:
            raise UnresolvableError(f"Fn::GetAtt {logical_id}.{name}: add it to the physical names")
        return physical[f"{logical_id}.{name}"]

    resolver = Resolver(refs={**PSEUDO_PARAMETERS, **defaults, **(parameters or {}), **physical}, attribute=attribute)
    globals_ = template.get("Globals", {}).get("Function", {})
    layers = cfn.resources_of_type(template, "AWS::Serverless::LayerVersion")
    specs = {}
    for logical_id, resource in cfn.resources_of_type(template, "AWS::Serverless::Function").items():
        if only is not None and logical_id not in only:
            continue
        props = resource["Properties"]

        def prop(name: str, props: dict[str, Any] = props) -> Any:
            return props.get(name, globals_.get(name, SAM_DEFAULTS.get(name)))

        variables = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        # SAM appends a function's Layers to the Globals ones.
        layer_refs = [*globals_.get("Layers", []), *props.get("Layers", [])]
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=ROOT / props["CodeUri"],
            handler=prop("Handler"),
            environment={name: str(value) for name, value in resolver.resolve(variables).items()},
            timeout=int(prop("Timeout")),
            memory_size=int(prop("MemorySize")),
            runtime=prop("Runtime"),
            layer_dirs=tuple(
                ROOT / layers[ref["Ref"]]["Properties"]["ContentUri"]
                for ref in layer_refs
                if isinstance(ref, dict) and ref.get("Ref") in layers
            ),
        )
    return specs


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
        context = FakeLambdaContext(target.name, target.arn, spec.memory_size, spec.timeout)
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
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
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

SAGA_FUNCTIONS = {  # the state machine's DefinitionSubstitutions -> the function resource
    "OrdersFunctionArn": "OrdersFunction",
    "InventoryFunctionArn": "InventoryFunction",
    "PaymentsFunctionArn": "PaymentsFunction",
    "BillingFunctionArn": "BillingFunction",
}
ROLE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass
class LocalSaga:
    state_machine_arn: str
    function_arns: dict[str, str]  # logical id -> ARN
    runner: InProcessRunner
    sfn: Any
    _previous_runner: Any = None
    _previous_sfn_config: Any = None

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


def deploy_in_process(aws: Any, prefix: str = "test-", region: str | None = None) -> LocalSaga:
    """Inside an active mock_aws: the four saga functions in moto's Lambda (a dummy zip, run by an
    InProcessRunner), the EXPRESS state machine from the ASL file with its DefinitionSubstitutions set
    to those functions' ARNs, moto's interpreter, sync execution and retry scaling on.
    `aws` is the conftest fixture (or anything with `.tables`: logical id -> boto3 Table), whose
    table names the functions' environment gets. Call `close()` on the result when done."""
    from moto.core.config import default_user_config

    region = region or os.environ.get("AWS_DEFAULT_REGION", PSEUDO_PARAMETERS["AWS::Region"])
    close_all_gaps()
    # What mock_aws(config=INTERPRETER_CONFIG) does, for a mock already started without it. A new dict,
    # not an update: mock_aws restores top-level keys only, so a nested change would outlive it.
    previous_sfn_config = default_user_config.get("stepfunctions")
    default_user_config["stepfunctions"] = {**(previous_sfn_config or {}), **INTERPRETER_CONFIG["stepfunctions"]}
    iam = boto3.client("iam", region_name=region)
    lambda_ = boto3.client("lambda", region_name=region)
    sfn = boto3.client("stepfunctions", region_name=region)

    role_arn = iam.create_role(RoleName=f"{prefix}saga-role", AssumeRolePolicyDocument=json.dumps(ROLE_TRUST))["Role"][
        "Arn"
    ]
    account = role_arn.split(":")[4]
    physical: dict[str, str] = {logical_id: table.name for logical_id, table in aws.tables.items()}
    physical.update({f"{logical_id}.Arn": table.table_arn for logical_id, table in aws.tables.items()})
    for logical_id in SAGA_FUNCTIONS.values():
        name = f"{prefix}{logical_id}"
        physical[logical_id] = name
        physical[f"{logical_id}.Arn"] = f"arn:aws:lambda:{region}:{account}:function:{name}"
    specs = functions_from_template(
        physical, parameters={"AWS::Region": region, "AWS::AccountId": account}, only=SAGA_FUNCTIONS.values()
    )

    functions = {}
    for logical_id in SAGA_FUNCTIONS.values():
        spec = specs[logical_id]
        lambda_.create_function(
            FunctionName=physical[logical_id],
            Runtime=spec.runtime,
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": _placeholder_zip()},
            Timeout=spec.timeout,
            MemorySize=spec.memory_size,
            Environment={"Variables": spec.environment},
        )
        functions[physical[logical_id]] = spec

    definition = asl.load(substitutions={sub: physical[f"{fn}.Arn"] for sub, fn in SAGA_FUNCTIONS.items()})
    state_machine_arn = sfn.create_state_machine(
        name=f"{prefix}order-saga", definition=json.dumps(definition), roleArn=role_arn, type="EXPRESS"
    )["stateMachineArn"]

    runner = InProcessRunner(functions)
    runner.warm_up()
    previous = run_lambdas_with(runner)
    return LocalSaga(
        state_machine_arn=state_machine_arn,
        function_arns={logical_id: physical[f"{logical_id}.Arn"] for logical_id in SAGA_FUNCTIONS.values()},
        runner=runner,
        sfn=sfn,
        _previous_runner=previous,
        _previous_sfn_config=previous_sfn_config,
    )


def _placeholder_zip() -> bytes:
    """moto wants a code package; the InProcessRunner runs the source tree instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The code runs from the source tree (saga_local.inprocess.InProcessRunner).")
    return buffer.getvalue()
