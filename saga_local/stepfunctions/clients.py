"""The interpreter's AWS clients, served in this process: a Task's DynamoDB or Lambda call goes straight to moto's
backend instead of over HTTP to the server it runs in."""

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace

# Every module of moto's interpreter that imported boto_client_for by name (the saga uses Lambda and DynamoDB).
_IMPORTERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
)


# What moto's own boto_client_for signs with: not a secret, moto maps any key to the default account.
_MOTO_CREDENTIALS = {"aws_access_key_id": "ak", "aws_secret_access_key": "sk"}
RoleCredentialsFor = Callable[[str], Mapping[str, str]]  # role ARN -> boto3 client credential arguments
_role_credentials: list[RoleCredentialsFor] = []  # set by sign_as_roles: the stack's STS sessions


def sign_as_roles(credentials_for: RoleCredentialsFor | None) -> None:
    """Tasks call AWS with credentials for the state machine's role (Step Functions assumes it), given by
    `credentials_for(role_arn)`; None: moto's fixed credentials (the account's root once IAM is enforced)."""
    _role_credentials[:] = [credentials_for] if credentials_for else []


def _credentials(state_credentials: Any) -> Mapping[str, str]:
    role_arn = getattr(state_credentials, "role_arn", None)
    if _role_credentials and role_arn:
        return _role_credentials[0](role_arn)
    return _MOTO_CREDENTIALS


def _serve_in_process(request: Any, **_: Any) -> Any:
    """A before-send handler: moto's own in-process dispatch (what mock_aws uses), whether or not a mock is on."""
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse
    from moto.core.models import botocore_stubber

    if botocore_stubber.enabled:  # a mock is on: moto's own handler serves it (botocore runs every handler)
        return None
    served = botocore_stubber.process_request(request)
    if served is None:  # no moto backend answers this URL: refuse rather than call AWS
        raise RuntimeError(f"no local service for {request.url}")
    status, headers, body = served
    return AWSResponse(request.url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]  # as moto's


def in_process_client_for() -> Any:
    """A replacement for moto's boto_client_for: one client per region, service and role (moto builds one per Task,
    about 8 ms of CPU), answered in this process. Same settings as moto's: no retries, no parameter validation."""
    import boto3
    from botocore.config import Config

    clients: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        credentials = _credentials(state_credentials)
        key = (region, service, credentials["aws_access_key_id"])
        with lock:
            client = clients.get(key)
            if client is None:
                # AWS's own endpoint URL (the stack's AWS_ENDPOINT_URL ignored), which moto's dispatch recognises.
                settings: dict[str, Any] = {"ignore_configured_endpoint_urls": True}  # not in botocore-stubs yet
                config = Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1},
                                connect_timeout=60, read_timeout=60, **settings)  # fmt: skip
                client = boto3.client(service, region_name=region, config=config, **credentials)  # type: ignore[call-overload]
                client.meta.events.register_first("before-send", _serve_in_process)
                clients[key] = client
        return client

    return client_for


def _changes() -> Sequence[Change]:
    import importlib

    client_for = in_process_client_for()
    return [Replace(importlib.import_module(name), "boto_client_for", client_for) for name in _IMPORTERS]


IN_PROCESS_CLIENTS = Patch(
    name="sfn-in-process-clients",
    kind=Kind.SPEED,
    replaces="moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for (as each Task module imported it): a "
    "new client per Task, calling the moto server over HTTP from inside it",
    because="each DynamoDB integration and Lambda Invoke of an order paid for a client, a signed HTTP request and "
    "werkzeug's parsing before moto ran the call; moto's in-process dispatch runs the same handlers (request lock, "
    "call hook and faults included)",
    changes=_changes,
)
