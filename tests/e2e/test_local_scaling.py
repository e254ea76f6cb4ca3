"""The local stack on `make local` defaults (no timeout or retry scaling): a burst of orders ends in business
outcomes, the account is AWS's default one, and a stack that would fail on a fresh account fails locally too."""

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from saga_local.launch import free_port, launched_stack
from tests.e2e.conftest import ROOT, START_TIMEOUT_SECONDS, LocalStackHandle

# What `make local` runs with: the scales at 1 (their defaults), no fault file.
MAKE_LOCAL_DEFAULTS = {"SAGA_LOCAL_TIMEOUT_SCALE": "1", "SAGA_LOCAL_RETRY_SCALE": "1", "LOCAL_FAULTS_FILE": ""}
BUSINESS_OUTCOMES = {201, 402, 409}


@pytest.fixture(scope="module")
def default_stack() -> Iterator[LocalStackHandle]:
    with launched_stack(MAKE_LOCAL_DEFAULTS, timeout=START_TIMEOUT_SECONDS) as stack:
        yield LocalStackHandle(
            api_url=stack.outputs["LocalApiUrl"], api_key=stack.outputs["ApiKey"],
            endpoint_url=stack.outputs["AwsEndpointUrl"], outputs=stack.outputs,
            state=json.loads((stack.state_dir / "stack.json").read_text()), state_dir=stack.state_dir,
            environment=stack.environment,
        )  # fmt: skip


def test_30_concurrent_orders_on_make_local_defaults_all_end_in_business_outcomes(
    default_stack: LocalStackHandle,
) -> None:
    """30 orders at once, distinct keys, plenty of stock (SKU-3: 250): no 5xx made by this machine's contention.
    Twice: the first burst right after start, the second on whatever the first left warm."""
    for burst in range(2):
        with ThreadPoolExecutor(max_workers=30) as pool:
            responses = list(pool.map(lambda _: default_stack.place_order(("SKU-3", 1))[0], range(30)))
        statuses = Counter(response.status for response in responses)
        assert set(statuses) <= BUSINESS_OUTCOMES, (
            burst,
            statuses,
            [r.body[:300] for r in responses if r.status >= 500],
        )


def test_no_function_was_throttled_or_timed_out_by_the_burst(default_stack: LocalStackHandle) -> None:
    """The admission bound keeps every saga step within its warm environments: no REPORT line timed out."""
    logs = Path(default_stack.state_dir) / "logs"
    for function in default_stack.state["functions"].values():
        text = (logs / f"{function}.log").read_text() if (logs / f"{function}.log").exists() else ""
        assert "Status: timeout" not in text, function


def test_the_account_reads_as_aws_default_one_through_the_local_endpoint(default_stack: LocalStackHandle) -> None:
    """What a preflight reads with boto3: a quota of 1,000, nothing reserved on the dev parameters, and API
    Gateway's CloudWatch Logs role set by the bootstrap `up` deployed first."""
    limit = default_stack.client("lambda").get_account_settings()["AccountLimit"]
    assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (1000, 1000)
    account = default_stack.client("apigateway").get_account()
    assert account["cloudwatchRoleArn"].startswith("arn:aws:iam::123456789012:role/")


def test_up_without_the_bootstrap_fails_as_cloudformation_would(tmp_path: Path) -> None:
    ports = {name: str(free_port()) for name in ("LOCAL_AWS_PORT", "LOCAL_API_PORT", "LOCAL_XRAY_PORT")}
    env = {**os.environ, **MAKE_LOCAL_DEFAULTS, **ports, "LOCAL_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "saga_local", "up", "--no-bootstrap"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("error: the stack cannot be created on this account: ")
    assert "(AWS::ApiGateway::Stage) CREATE_FAILED: CloudWatch Logs role ARN must be set in account settings to " \
           "enable logging" in done.stderr  # fmt: skip
    assert "Traceback" not in done.stderr
