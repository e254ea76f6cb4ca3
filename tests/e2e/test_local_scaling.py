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
from tests.support.paths import ROOT
from tests.support.stack import START_TIMEOUT_SECONDS, LocalStackHandle
from tests.support.wait import wait_for

# What `make local` runs with: the scales at 1 (their defaults), no fault file.
MAKE_LOCAL_DEFAULTS = {"SAGA_LOCAL_TIMEOUT_SCALE": "1", "SAGA_LOCAL_RETRY_SCALE": "1", "SAGA_LOCAL_FAULTS_FILE": ""}
BUSINESS_OUTCOMES = {201, 402, 409}


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackHandle]:
    # A fault file (empty until the last test writes it): what `make local` has, plus a way to overrun a handler.
    faults = {"SAGA_LOCAL_FAULTS_FILE": str(tmp_path_factory.mktemp("faults") / "faults.json")}
    with launched_stack({**MAKE_LOCAL_DEFAULTS, **faults}, timeout=START_TIMEOUT_SECONDS) as stack:
        yield LocalStackHandle(
            api_url=stack.outputs["LocalApiUrl"], api_key=stack.outputs["ApiKey"],
            endpoint_url=stack.outputs["AwsEndpointUrl"], outputs=stack.outputs,
            state=json.loads((stack.state_dir / "stack.json").read_text()), state_dir=stack.state_dir,
            environment=stack.environment,
        )  # fmt: skip


# Lambda's timeouts at scale 1 on a machine shared with other test workers would make 5xx of contention that AWS,
# where each environment has its own CPU, never sees: this burst runs alone (make test runs `-m alone` last).
@pytest.mark.alone
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


def test_the_account_reads_as_aws_default_one_through_the_local_endpoint(default_stack: LocalStackHandle) -> None:
    """What a preflight reads with boto3: a quota of 1,000, nothing reserved on the dev parameters, and API
    Gateway's CloudWatch Logs role set by the bootstrap `up` deployed first."""
    limit = default_stack.client("lambda").get_account_settings()["AccountLimit"]
    assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (1000, 1000)
    account = default_stack.client("apigateway").get_account()
    assert account["cloudwatchRoleArn"].startswith("arn:aws:iam::123456789012:role/")


def test_a_function_reserved_at_0_is_throttled_and_the_order_fails_visibly(default_stack: LocalStackHandle) -> None:
    """PutFunctionConcurrency through the endpoint reaches the running functions: payments reserved at 0 throttles
    the charge and its refund alike (Lambda.TooManyRequestsException, retried), so the order ends visibly failed,
    as it would on AWS; DeleteFunctionConcurrency gives the function its capacity back."""
    lambda_ = default_stack.client("lambda")
    payments = default_stack.state["functions"]["PaymentsFunction"]
    lambda_.put_function_concurrency(FunctionName=payments, ReservedConcurrentExecutions=0)
    try:
        assert lambda_.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
        log_before = len(_log(default_stack, payments))
        throttled, _ = default_stack.place_order(("SKU-3", 1))
        ran = _log(default_stack, payments)[log_before:]
    finally:
        lambda_.delete_function_concurrency(FunctionName=payments)
    assert throttled.status == 500, throttled.body
    order_id = throttled.json()["orderId"]
    order = default_stack.request("GET", f"/orders/{order_id}").json()
    assert order["status"] == "COMPENSATION_FAILED"
    assert "START RequestId" not in ran  # throttled: the function never ran
    assert default_stack.place_order(("SKU-3", 1))[0].status == 201


def test_up_without_the_bootstrap_fails_as_cloudformation_would(tmp_path: Path) -> None:
    ports = {name: str(free_port()) for name in ("SAGA_LOCAL_AWS_PORT", "SAGA_LOCAL_API_PORT", "SAGA_LOCAL_XRAY_PORT")}
    env = {**os.environ, **MAKE_LOCAL_DEFAULTS, **ports, "SAGA_LOCAL_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "saga_local", "up", "--no-bootstrap"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("error: the stack cannot be created on this account: ")
    assert "(AWS::ApiGateway::Stage) CREATE_FAILED: CloudWatch Logs role ARN must be set in account settings to " \
           "enable logging" in done.stderr  # fmt: skip
    assert "Traceback" not in done.stderr


def test_a_handler_that_really_overruns_still_times_out(default_stack: LocalStackHandle) -> None:
    """The admission bound takes nothing from a Task's timeout: a charge that overruns the function's Timeout is
    killed (Sandbox.Timedout), retried, compensated, and the client gets 503. Last: it leaves a timeout logged."""
    rules = [{"function": "PaymentsFunction", "match": {"action": "ChargePayment"}, "fault": "timeout"}]
    Path(default_stack.environment["SAGA_LOCAL_FAULTS_FILE"]).write_text(json.dumps({"faults": rules}))
    try:
        response, _ = default_stack.place_order(("SKU-3", 1))
    finally:
        Path(default_stack.environment["SAGA_LOCAL_FAULTS_FILE"]).unlink()
    assert response.status == 503, response.body
    payments = default_stack.state["functions"]["PaymentsFunction"]
    wait_for(  # the worker is killed at its own Timeout, after the Task gave up on it
        lambda: "Status: timeout" in _log(default_stack, payments),
        timeout=10,
        interval=0.2,
        message="the payments function's log to show its timeout",
    )
    assert "Task timed out after" in _log(default_stack, payments)


def _log(stack: LocalStackHandle, function: str) -> str:
    path = Path(stack.state_dir) / "logs" / f"{function}.log"
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize(
    ("args", "variables", "message"),
    [
        (["--concurrency-quota", "0"], {}, "error: --concurrency-quota must be >= 1, got 0"),
        ([], {"SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA": "ten"},
         "error: SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA must be a whole number >= 1, got 'ten'"),
        ([], {"SAGA_LOCAL_CONCURRENT_EXECUTIONS": "-1"},
         "error: SAGA_LOCAL_CONCURRENT_EXECUTIONS must be a whole number >= 1, got '-1'"),
    ],
)  # fmt: skip
def test_a_bad_concurrency_setting_is_a_clear_error_naming_it(
    args: list[str], variables: dict[str, str], message: str
) -> None:
    env = {**os.environ, **variables, "SAGA_LOCAL_AWS_PORT": str(free_port()), "SAGA_LOCAL_API_PORT": str(free_port())}
    done = subprocess.run([sys.executable, "-m", "saga_local", "up", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert (done.returncode, done.stderr.strip()) == (2, message)
