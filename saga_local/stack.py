"""The local stack: moto as the AWS endpoint, the template provisioned on it, and emulators for what
moto does not run (Lambda code, stream event source mappings, the REST API, the X-Ray daemon).
"""

import contextlib
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from saga_local import patches
from saga_local.awslambda import invoke_hook
from saga_local.awslambda.sam_env import sam_env_vars
from saga_local.cloudformation.provision import Stack, provision
from saga_local.cloudformation.template import ROOT

SEED_FILE = ROOT / "data" / "inventory-seed.json"
REGION = "us-east-1"
# A request line per AWS call, and the SAM translator's feature-toggle notice, drown the useful output.
logging.getLogger("werkzeug").setLevel(logging.WARNING)
logging.getLogger("samtranslator").setLevel(logging.ERROR)
ACCOUNT_ID = "123456789012"
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "aws_session_token": "local"}


@dataclass(frozen=True)
class Settings:
    aws_port: int = int(os.environ.get("LOCAL_AWS_PORT", "4566"))
    api_port: int = int(os.environ.get("LOCAL_API_PORT", "3000"))
    xray_port: int = int(os.environ.get("LOCAL_XRAY_PORT", "2000"))
    host: str = "127.0.0.1"
    stack_name: str = os.environ.get("LOCAL_STACK_NAME", "order-saga-local")
    workers_per_function: int = int(os.environ.get("LOCAL_LAMBDA_WORKERS", "4"))
    seed_file: Path = SEED_FILE
    # State of a running stack (outputs, logs, traces); tests point it elsewhere to leave a dev stack alone.
    local_dir: Path = Path(os.environ.get("LOCAL_STATE_DIR", ROOT / ".local"))

    @property
    def outputs_file(self) -> Path:
        return self.local_dir / "outputs.json"

    @property
    def state_file(self) -> Path:
        return self.local_dir / "stack.json"

    @property
    def sam_env_file(self) -> Path:
        """For `sam local invoke FUNCTION --env-vars .local/sam-env.json --docker-network host`."""
        return self.local_dir / "sam-env.json"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"


def client(service: str, endpoint_url: str) -> Any:
    """A boto3 client on the local endpoint (StartSyncExecution's `sync-` host prefix disabled)."""
    return boto3.client(  # type: ignore[call-overload]  # boto3-stubs types literal service names only
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        config=Config(inject_host_prefix=False, retries={"max_attempts": 2, "mode": "standard"}),
        **CREDENTIALS,
    )


@dataclass
class LocalAws:
    """The local AWS for this template: a moto server with every registered patch, the stack provisioned on
    it, and the emulators started (X-Ray daemon, Lambda runtime, stream pollers, API). `stop()` ends them."""

    settings: Settings
    stack: Stack | None = None
    started_at: float = field(default_factory=time.monotonic)
    _closers: list[Any] = field(default_factory=list)

    def start(self) -> "LocalAws":
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        settings = self.settings
        if settings.local_dir.exists():  # a second start is a clean start
            shutil.rmtree(settings.local_dir)
        (settings.local_dir / "logs").mkdir(parents=True)
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"

        patches.apply_all()
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        # The interpreter calls Lambda on localhost:$MOTO_PORT; the Lambda invoke hook routes them to our runtime.
        os.environ["MOTO_PORT"] = str(settings.aws_port)
        server = ThreadedMotoServer(ip_address=settings.host, port=settings.aws_port, verbose=False)
        server.start()
        self._closers.append(server.stop)

        self.stack = provision(
            lambda service: client(service, settings.endpoint_url),
            stack_name=settings.stack_name,
            region=REGION,
            account_id=ACCOUNT_ID,
        )
        self._start_xray()
        self._start_lambda_runtime()
        self._start_stream_pollers()
        self._start_scheduler()
        self._start_apis()
        self.seed(settings.seed_file)
        self._write_state()
        return self

    # -- emulators
    def _start_xray(self) -> None:
        from saga_local.xray.daemon import XRayDaemon

        daemon = XRayDaemon(
            host=self.settings.host,
            port=self.settings.xray_port,
            store_path=self.settings.local_dir / "traces",
            forward_to=client("xray", self.settings.endpoint_url),  # so `aws xray batch-get-traces` works too
        )
        daemon.start()
        self._closers.append(daemon.stop)
        os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"{self.settings.host}:{self.settings.xray_port}"

    def _start_lambda_runtime(self) -> None:
        from saga_local.awslambda.runtime import LambdaRuntime

        assert self.stack is not None
        runtime = LambdaRuntime(
            self.settings.endpoint_url,
            REGION,
            self.settings.local_dir / "logs",
            max_workers_per_function=self.settings.workers_per_function,
        )
        for spec in self.stack.functions:
            runtime.register(_with_local_overrides(spec))
        # A cold worker would eat most of a Task's 1 s timeout. One per function before "ready", a second
        # after, in the background: two orders at once invoke a function twice at once.
        runtime.warm_up()
        threading.Thread(target=runtime.warm_up, kwargs={"workers": 2}, name="warm-up", daemon=True).start()
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
            poller = StreamPoller(
                lambda: client("dynamodbstreams", endpoint),
                self.runtime.invoke,
                lambda: client("sqs", endpoint),
                mapping,
            )
            poller.start()
            self._closers.append(poller.stop)

    def _start_scheduler(self) -> None:
        from saga_local.scheduler import Scheduler

        assert self.stack is not None
        scheduler = Scheduler(self.stack.schedules, lambda arn, event: self.runtime.invoke(arn, event)).start()
        self.scheduler = scheduler
        self._closers.append(scheduler.stop)

    def _start_apis(self) -> None:
        from saga_local.apigateway.server import make_app, serve

        assert self.stack is not None
        for index, api in enumerate(self.stack.apis):
            app = make_app(api, aws_endpoint_url=self.settings.endpoint_url, region=REGION, account_id=ACCOUNT_ID)
            handle = serve(app, self.settings.host, self.settings.api_port + index)
            self._closers.append(handle.shutdown)

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
            "Region": REGION,
        }
        self.settings.outputs_file.write_text(json.dumps(outputs, indent=2) + "\n")
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


FUNCTION_ENV_OVERRIDE_PREFIX = "LOCAL_FUNCTION_ENV_"


def _with_local_overrides(spec: Any) -> Any:
    """The function with LOCAL_FUNCTION_ENV_<NAME> given to it as <NAME>, where its template declares <NAME>: tests
    shorten the recovery sweep's window (LOCAL_FUNCTION_ENV_STUCK_AFTER_SECONDS=5) without editing the template."""
    from dataclasses import replace

    prefix = FUNCTION_ENV_OVERRIDE_PREFIX
    overrides = {
        name.removeprefix(prefix): value
        for name, value in os.environ.items()
        if name.startswith(prefix) and name.removeprefix(prefix) in spec.environment
    }
    return replace(spec, environment={**spec.environment, **overrides}) if overrides else spec


def seed_inventory(path: Path, endpoint_url: str, table_name: str) -> int:
    """Put the catalog of `path` into the inventory table with the inventory service's own code."""
    import sys

    items = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(items, dict):
        items = items.get("items", items.get("catalog", []))
    for folder in ("shared", "inventory"):
        sys.path.insert(0, str(ROOT / "functions" / folder))
    os.environ.update({"INVENTORY_TABLE": table_name, "AWS_ENDPOINT_URL": endpoint_url})
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    for key, value in CREDENTIALS.items():
        os.environ.setdefault(key.upper(), value)
    from inventory.service import seed_catalog
    from saga_common import aws

    aws.reset()
    seed_catalog(items)
    return len(items)
