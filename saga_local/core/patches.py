"""Every change this project makes to moto, in one list: what `up`, the in-process runner and the tests apply.

`saga-local patches` prints them (`--markdown`: a table). Each lives with the service it patches;
see saga_local.core.patching for what a patch is.
"""

from saga_local.awslambda.account import ACCOUNT_CONCURRENCY
from saga_local.awslambda.invoke_hook import INVOKE_HOOK
from saga_local.core.aws_calls import AWS_CALL_HOOK
from saga_local.core.patching import Kind, Patch
from saga_local.core.routing import ROUTE_CACHE
from saga_local.dynamodb.request_lock import SERIALIZE_REQUESTS
from saga_local.dynamodb.transactions import COPY_ONLY_TRANSACTED_ITEMS
from saga_local.iam.enforcement import IAM_ACCOUNT_ROOT, IAM_ACTION_NAMES, IAM_ERROR_FORMAT, IAM_UNKNOWN_RESOURCES
from saga_local.sqs.approximate_counts import APPROXIMATE_COUNTS_ONE_CLOCK
from saga_local.stepfunctions.clients import IN_PROCESS_CLIENTS
from saga_local.stepfunctions.context_object import STATE_ENTERED_TIME
from saga_local.stepfunctions.errors import LAMBDA_SERVICE_ERROR_NAMES, PARALLEL_BRANCH_ERROR_NAMES
from saga_local.stepfunctions.halt import HALT_EXECUTIONS
from saga_local.stepfunctions.json_path import DEFINITE_JSON_PATHS
from saga_local.stepfunctions.mock_config import MOCK_CONFIG
from saga_local.stepfunctions.parse_once import PARSE_DEFINITIONS_ONCE
from saga_local.stepfunctions.sync_execution import FINISHED_EXECUTION_HOOK, START_SYNC_EXECUTION
from saga_local.stepfunctions.timing import SCALE_RETRY_WAITS, SCALE_TIMEOUTS
from saga_local.stepfunctions.variables import VARIABLES
from saga_local.xray.propagation import PROPAGATE_TRACES

# In the order they are applied; undone in reverse (a patch may wrap what an earlier one installed).
REGISTRY: tuple[Patch, ...] = (
    SERIALIZE_REQUESTS,
    INVOKE_HOOK,
    ACCOUNT_CONCURRENCY,
    START_SYNC_EXECUTION,
    SCALE_RETRY_WAITS,
    SCALE_TIMEOUTS,
    DEFINITE_JSON_PATHS,
    VARIABLES,
    IN_PROCESS_CLIENTS,
    PROPAGATE_TRACES,
    PARSE_DEFINITIONS_ONCE,
    ROUTE_CACHE,
    COPY_ONLY_TRANSACTED_ITEMS,
    APPROXIMATE_COUNTS_ONE_CLOCK,
    PARALLEL_BRANCH_ERROR_NAMES,
    LAMBDA_SERVICE_ERROR_NAMES,
    STATE_ENTERED_TIME,
    MOCK_CONFIG,
    AWS_CALL_HOOK,
    FINISHED_EXECUTION_HOOK,
    IAM_UNKNOWN_RESOURCES,
    IAM_ACTION_NAMES,
    IAM_ERROR_FORMAT,
    IAM_ACCOUNT_ROOT,
    HALT_EXECUTIONS,
)


def apply_all() -> None:
    """Every patch applied by default. Each is idempotent; the Lambda hook calls moto's own invoke until a
    runner is set (saga_local.awslambda.invoke_hook.run_lambdas_with), the scales are 1 unless set, and
    traces change nothing for an execution without a trace header."""
    for patch in REGISTRY:
        if patch.by_default:
            patch.apply()


def by_name(name: str) -> Patch:
    return next(patch for patch in REGISTRY if patch.name == name)


def describe(*, markdown: bool = False) -> str:
    """The registry as text, grouped by kind (moto gaps first)."""
    ordered = sorted(REGISTRY, key=lambda patch: list(Kind).index(patch.kind))
    if markdown:
        rows = ["| patch | kind | replaces (moto's behaviour) | because |", "|---|---|---|---|"]
        rows += [f"| `{p.name}` | {p.kind}{_when(p)} | {_cell(p.replaces)} | {_cell(p.because)} |" for p in ordered]
        return "\n".join(rows)
    blocks = []
    for kind in Kind:
        patches = [patch for patch in ordered if patch.kind == kind]
        if patches:
            lines = [f"{kind}:"]
            for patch in patches:
                lines += [
                    f"  {patch.name}{_when(patch)}",
                    f"    replaces {patch.replaces}",
                    f"    because  {patch.because}",
                ]
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _when(patch: Patch) -> str:
    return "" if patch.by_default else " (on demand)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
