"""saga_local.awslambda.sam_env: `.local/sam-env.json`, what `sam local invoke --env-vars` takes."""

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from saga_local.awslambda.sam_env import sam_env_vars
from saga_local.cloudformation import template as cfn
from saga_local.cloudformation.provision import Stack, bootstrap, provision
from saga_local.core.config import Config
from saga_local.stack import LocalAws

ENDPOINT = "http://127.0.0.1:4566"


@pytest.fixture
def stack(aws: Any) -> Stack:  # `aws` starts moto
    def clients(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]  # dynamic service name

    bootstrap(clients)  # as `make bootstrap` before the first deploy
    return provision(clients, stack_name="p")


def _declared(function: dict[str, Any], sam: dict[str, Any]) -> set[str]:
    shared = sam.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = function["Properties"].get("Environment", {}).get("Variables", {})
    return set(shared) | set(own)


def test_every_function_gets_its_template_environment_resolved_and_the_endpoint(stack: Stack) -> None:
    sam = cfn.load()
    env_vars = sam_env_vars(stack.functions, ENDPOINT, "us-east-1")
    functions = cfn.resources_of_type(sam, "AWS::Serverless::Function")
    assert set(env_vars) == set(functions)
    for logical_id, function in functions.items():
        variables = env_vars[logical_id]
        assert _declared(function, sam) <= set(variables), logical_id
        assert all(isinstance(value, str) and "{" not in value for value in variables.values()), variables
        assert variables["AWS_ENDPOINT_URL"] == ENDPOINT
    assert env_vars["InventoryFunction"]["INVENTORY_TABLE"] == stack.refs["InventoryTable"]
    assert env_vars["PaymentsFunction"]["IDEMPOTENCY_TABLE"] == stack.refs["IdempotencyTable"]


def test_no_credential_is_written(stack: Stack) -> None:
    text = json.dumps(sam_env_vars(stack.functions, ENDPOINT, "us-east-1")).lower()
    for credential in ("secret", "session_token", "access_key"):
        assert credential not in text


def test_up_writes_it_next_to_the_outputs(stack: Stack, tmp_path: Path) -> None:
    local = LocalAws(Config(state_dir=tmp_path, aws_port=4599), stack=stack)
    local._write_state()
    written = json.loads((tmp_path / "sam-env.json").read_text())
    assert written == sam_env_vars(stack.functions, "http://127.0.0.1:4599", "us-east-1")


def test_sam_cli_gives_each_function_the_local_names_and_endpoint(stack: Stack) -> None:
    """What `sam local invoke F --env-vars .local/sam-env.json` puts in the container, from SAM CLI's own
    resolver: every declared variable overridden by the file, the endpoint included (no Docker needed)."""
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    env_vars = sam_env_vars(stack.functions, ENDPOINT, "us-east-1")
    stacks, _ = SamLocalStackProvider.get_stacks(str(cfn.TEMPLATE_PATH))
    provider = SamFunctionProvider(stacks)
    runner = LocalLambdaRunner(local_runtime=None, function_provider=provider, cwd=".", real_path=".",
                               env_vars_values=env_vars)  # fmt: skip
    for logical_id, expected in env_vars.items():
        function = provider.get(logical_id)
        assert function is not None, logical_id
        resolved = runner._make_env_vars(function).resolve()
        declared = {name: value for name, value in expected.items() if name not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        assert {name: resolved.get(name) for name in declared} == declared, logical_id
