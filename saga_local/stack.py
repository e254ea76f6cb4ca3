"""The local stack: moto as the AWS endpoint, the template provisioned on it, and emulators for what
moto does not run (Lambda code, stream event source mappings, the REST API, the X-Ray daemon).
"""

import contextlib
import functools
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials

from saga_local.awslambda import invoke_hook
from saga_local.awslambda.sam_env import sam_env_vars
from saga_local.cloudformation.provision import Stack, bootstrap, provision
from saga_local.core import patches
from saga_local.core.config import Config
from saga_local.iam.sessions import API_GATEWAY_SESSION, STEP_FUNCTIONS_SESSION, RoleSessions
from saga_local.stepfunctions import clients as task_clients

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "aws_session_token": "local"}


def client(service: str, endpoint_url: str, credentials: Mapping[str, str] | None = None) -> Any:
    """A boto3 client on the local endpoint (StartSyncExecution's `sync-` host prefix disabled), as the account's
    root unless `credentials` (a principal's session) are given."""
    return boto3.client(  # type: ignore[call-overload]  # boto3-stubs types literal service names only
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        config=BotoConfig(inject_host_prefix=False, retries={"max_attempts": 2, "mode": "standard"}),
        **(credentials or CREDENTIALS),
    )


@dataclass
class LocalAws:
    """The local AWS for this template: a moto server with every registered patch, the stack provisioned on
    it, and the emulators started (X-Ray daemon, Lambda runtime, stream pollers, API). `stop()` ends them."""

    settings: Config
    stack: Stack | None = None
    started_at: float = field(default_factory=time.monotonic)
    callers: list[dict[str, str]] = field(default_factory=list)
    _closers: list[Any] = field(default_factory=list)

    def start(self, logs_ready: Callable[[], Any] | None = None) -> "LocalAws":
        """Start everything; `logs_ready` is called once the state folder is new (`.local/logs/` exists), before
        anything logs (`saga-local up` routes logging to the log file there)."""
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        settings = self.settings
        if settings.state_dir.exists():  # a second start is a clean start
            shutil.rmtree(settings.state_dir)
        settings.log_dir.mkdir(parents=True)
        if logs_ready is not None:
            logs_ready()
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"

        patches.apply_all()
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        # SAM gives function roles AWS managed policies (AWSLambdaBasicExecutionRole, ...): moto has them on demand.
        default_user_config["iam"] = {"load_aws_managed_policies": True}
        # The interpreter calls Lambda on localhost:$MOTO_PORT; the Lambda invoke hook routes them to our runtime.
        os.environ["MOTO_PORT"] = str(settings.aws_port)
        server = ThreadedMotoServer(ip_address=settings.host, port=settings.aws_port, verbose=False)
        server.start()
        self._closers.append(server.stop)

        from saga_local.awslambda.account import concurrency_account

        concurrency_account(ACCOUNT_ID, REGION).set_quota(settings.lambda_concurrency_quota)
        if settings.bootstrap:  # as `make bootstrap` before the first deploy
            bootstrap(lambda service: client(service, settings.endpoint_url), region=REGION, account_id=ACCOUNT_ID)
        self.stack = provision(
            lambda service: client(service, settings.endpoint_url),
            stack_name=settings.stack_name,
            region=REGION,
            account_id=ACCOUNT_ID,
        )
        sessions = self.sessions = RoleSessions(client("sts", settings.endpoint_url))
        # Step Functions assumes the state machine's role for its Tasks.
        task_clients.sign_as_roles(lambda arn: sessions.credentials(arn, STEP_FUNCTIONS_SESSION).client_arguments())
        self._closers.append(lambda: task_clients.sign_as_roles(None))
        if settings.iam_enforcement:
            self._enforce_iam()
        self._start_xray()
        self._start_lambda_runtime()
        self._start_stream_pollers()
        self._start_scheduler()
        self._create_callers()
        self._start_apis()
        self.seed(settings.seed_file)
        self._write_state()
        return self

    def _enforce_iam(self) -> None:
        """From here on every request is checked: its signature, and its action against the caller's policies."""
        from moto.core.authorization import enable_iam_authentication

        enforcing = enable_iam_authentication()
        enforcing.__enter__()
        self._closers.append(lambda: enforcing.__exit__(None, None, None))

    def _role_session(self, role_arn: str, session_name: str) -> dict[str, str] | None:
        return self.sessions.credentials(role_arn, session_name).client_arguments() if role_arn else None

    # -- emulators
    def _start_xray(self) -> None:
        from saga_local.xray.daemon import XRayDaemon

        daemon = XRayDaemon(
            host=self.settings.host,
            port=self.settings.xray_port,
            store_path=self.settings.state_dir / "traces",
            forward_to=client("xray", self.settings.endpoint_url),  # so `aws xray batch-get-traces` works too
        )
        daemon.start()
        self._closers.append(daemon.stop)
        os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"{self.settings.host}:{self.settings.xray_port}"

    def _start_lambda_runtime(self) -> None:
        from saga_local.awslambda.account import concurrency_account
        from saga_local.awslambda.runtime import LambdaRuntime

        assert self.stack is not None
        runtime = LambdaRuntime(
            self.settings.endpoint_url,
            REGION,
            self.settings.state_dir / "logs",
            account=concurrency_account(ACCOUNT_ID, REGION),
            xray_address=self.settings.xray_address,
            faults_file=self.settings.faults_file,
        )
        for spec in self.stack.functions:  # Lambda sets the role's session in each execution environment
            role = self.sessions.credentials(spec.role_arn, spec.name) if spec.role_arn else None
            runtime.register(
                _with_local_overrides(spec, self.settings.function_env), role.environment() if role else None
            )
        # A cold start on this shared machine would eat most of a Task's timeout. Before "ready": one environment
        # per function reading a stream (one batch per shard at a time) or run by a schedule (a run at a time), and
        # one per admitted execution for the others (an execution invokes each at most once at a time).
        polled = {mapping.function_name for mapping in self.stack.mappings}
        scheduled = {spec.name for spec in self.stack.functions
                     if any(s.target_arn == spec.arn for s in self.stack.schedules)}  # fmt: skip
        runtime.warm_up(*polled, *scheduled, workers=1)
        others = [spec.name for spec in self.stack.functions if spec.name not in polled | scheduled]
        if others:
            runtime.warm_up(*others, workers=max(1, self.settings.concurrent_executions))
        invoke_hook.run_lambdas_with(runtime.runner)
        from saga_local.stepfunctions import halt

        halt.use(runtime.faults)  # execution faults (halt, timeout) counted with the functions'
        self._closers.append(lambda: halt.use(None))
        self.runtime = runtime
        self._closers.append(runtime.close)

    def _start_stream_pollers(self) -> None:
        from saga_local.awslambda.streams import StreamPoller

        assert self.stack is not None
        endpoint = self.settings.endpoint_url
        for mapping in self.stack.mappings:
            if not mapping.enabled:
                continue
            # Lambda polls the stream and sends failures to the destination with the function's role.
            function = next(f for f in self.stack.functions if mapping.function_name in (f.name, f.logical_id))
            role = self._role_session(function.role_arn, function.name)
            poller = StreamPoller(
                functools.partial(client, "dynamodbstreams", endpoint, role),
                self.runtime.invoke,
                functools.partial(client, "sqs", endpoint, role),
                mapping,
            )
            poller.start()
            self._closers.append(poller.stop)

    def _start_scheduler(self) -> None:
        from saga_local.scheduler import Scheduler

        assert self.stack is not None
        scheduler = Scheduler(
            self.stack.schedules, lambda arn, event: self.runtime.invoke(arn, event), self.settings.schedule_seconds
        ).start()
        self.scheduler = scheduler
        self._closers.append(scheduler.stop)

    def _create_callers(self) -> None:
        """IAM principals allowed to invoke the APIs, made with the account's root credentials (as provisioning)."""
        from saga_local.apigateway.callers import create_callers

        assert self.stack is not None
        endpoint = self.settings.endpoint_url
        resources = [f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api.api_id}/*" for api in self.stack.apis]
        self.callers = create_callers(client("iam", endpoint), client("sts", endpoint), resources) if resources else []

    def _start_apis(self) -> None:
        from saga_local.apigateway.callers import moto_allows, moto_principals
        from saga_local.apigateway.server import make_app
        from saga_local.apigateway.serving import serve

        assert self.stack is not None
        principals = moto_principals(ACCOUNT_ID)  # moto runs in this process: its IAM and STS hold the secrets
        for index, api in enumerate(self.stack.apis):
            app = make_app(
                api, aws_endpoint_url=self.settings.endpoint_url, region=REGION, account_id=ACCOUNT_ID,
                executions_at_once=self.settings.concurrent_executions or None,
                role_credentials=self._integration_credentials,
                principals=principals, allows=moto_allows,
            )  # fmt: skip
            handle = serve(app, self.settings.host, self.settings.api_port + index)
            self._closers.append(handle.shutdown)

    def _integration_credentials(self, role_arn: str) -> Credentials:
        role = self.sessions.credentials(role_arn, API_GATEWAY_SESSION)
        return Credentials(role.access_key_id, role.secret_access_key, role.session_token)

    # -- data and state
    def seed(self, path: Path) -> int:
        return seed_inventory(path, self.settings.endpoint_url, self.table_name("InventoryTable"))

    def table_name(self, logical_id: str) -> str:
        assert self.stack is not None
        return str(self.stack.refs[logical_id])

    @property
    def api_url(self) -> str:
        assert self.stack is not None
        api = self.stack.apis[0]
        return f"http://{self.settings.host}:{self.settings.api_port}/{api.stage}"

    def _write_state(self) -> None:
        assert self.stack is not None
        stack = self.stack
        outputs = {
            **stack.outputs,
            "LocalApiUrl": self.api_url,
            "AwsEndpointUrl": self.settings.endpoint_url,
            "ApiKey": stack.apis[0].api_keys[0] if stack.apis and stack.apis[0].api_keys else None,
            "Callers": self.callers,  # IAM principals that may invoke the API; the first is the README's
            "Region": REGION,
        }
        self.settings.outputs_file.write_text(json.dumps(outputs, indent=2) + "\n")
        self.settings.outputs_file.chmod(0o600)  # the callers' secret keys
        state = {
            "settings": {k: str(v) for k, v in asdict(self.settings).items()},
            "refs": {k: v for k, v in stack.refs.items() if isinstance(v, str | int)},
            "functions": {f.logical_id: f.name for f in stack.functions},
            "skipped": stack.skipped,
        }
        self.settings.state_file.write_text(json.dumps(state, indent=2) + "\n")
        sam_env = sam_env_vars(stack.functions, self.settings.endpoint_url, REGION)
        self.settings.sam_env_file.write_text(json.dumps(sam_env, indent=2) + "\n")

    def stop(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):  # shutting down: keep closing the rest
                close()
        self._closers.clear()
        invoke_hook.run_lambdas_with(None)


def _with_local_overrides(spec: Any, overrides: Mapping[str, str]) -> Any:
    """The function with each SAGA_LOCAL_FUNCTION_ENV_<NAME> given to it as <NAME>, where its template declares
    <NAME>: tests shorten the recovery sweep's window (SAGA_LOCAL_FUNCTION_ENV_STUCK_AFTER_SECONDS=5) without
    editing the template."""
    from dataclasses import replace

    declared = {name: value for name, value in overrides.items() if name in spec.environment}
    return replace(spec, environment={**spec.environment, **declared}) if declared else spec


def seed_inventory(path: Path, endpoint_url: str, table_name: str) -> int:
    """Put the catalog of `path` into the inventory table with the inventory service's own code."""
    from saga_local.awslambda.code import FUNCTIONS, SHARED_LAYER, import_function_module

    items = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(items, dict):
        items = items.get("items", items.get("catalog", []))
    os.environ.update({"INVENTORY_TABLE": table_name, "AWS_ENDPOINT_URL": endpoint_url})
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    for key, value in CREDENTIALS.items():
        os.environ.setdefault(key.upper(), value)
    service = import_function_module("inventory.service", FUNCTIONS / "inventory", SHARED_LAYER)
    aws = import_function_module("saga_common.aws", SHARED_LAYER)
    aws.reset()
    service.seed_catalog(items)
    return len(items)


class NotRunning(Exception):
    """No local stack answers where the state folder says one runs; the message says what to do."""


def listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex((host, port)) == 0


def running_stack(settings: Config) -> dict[str, Any]:
    """What `saga-local up` wrote for the stack running on `settings.state_dir`: its state (`state`: the physical
    names of its resources, its functions), its outputs (`outputs`: .local/outputs.json, the API's URL, the callers)
    and its AWS endpoint (`endpoint`), once that endpoint answers. NotRunning otherwise."""
    if not settings.state_file.exists() or not settings.outputs_file.exists():
        raise NotRunning(f"the local stack is not running (no {settings.outputs_file}): start it with `make local`")
    try:
        state = json.loads(settings.state_file.read_text())
        outputs = json.loads(settings.outputs_file.read_text())
        host, port = outputs["AwsEndpointUrl"].removeprefix("http://").split(":")
    except (OSError, ValueError, KeyError) as error:
        raise NotRunning(
            f"the local stack's state in {settings.state_dir} is unreadable ({error}): make local"
        ) from None
    if not listening(host, int(port)):
        raise NotRunning(f"the local stack is not running (nothing answers on {outputs['AwsEndpointUrl']}): make local")
    return {"state": state, "outputs": outputs, "endpoint": outputs["AwsEndpointUrl"]}
