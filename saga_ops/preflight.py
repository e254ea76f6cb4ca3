"""Before a deploy: read the account and say, in plain words, what would fail and what to do about it.

    saga-ops preflight --env prod [--json]          # make preflight [ENV=prod]; credentials from the environment
    saga-ops preflight --local [--env prod]         # the same checks against the running local stack

What the template asks for (reserved concurrency, the stage's access logging, FIFO topics and queues), resolved with
the samconfig.toml environment's parameters, against what the account reads (API Gateway's account settings, Lambda's
concurrency quota and unreserved concurrency, the reservations of an already deployed stack of the same name,
Service Quotas), and the environment's rate (ApiRateLimit, ApiBurstLimit) against the rate limits, with the per-order
counts of the capacity model (saga_ops/capacity.py). One line per check: OK, RISK, WILL FAIL or UNKNOWN (a quota it
could not read is unknown, never OK). Exit status 1 when something will fail, 2 on bad input.
"""

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from saga_ops.capacity import (
    DOCUMENTED,
    HEADROOM,
    UNRESERVED_MINIMUM,
    ConfigError,
    Environment,
    PerOrder,
    function_needs,
    load_environment,
    load_per_order,
    reservations,
    resolver,
)

OK, RISK, FAIL, UNKNOWN = "OK", "RISK", "WILL FAIL", "UNKNOWN"
LAMBDA_CONCURRENCY_QUOTA_CODE = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"
API_THROTTLE_QUOTA_CODE = "L-8A5B8E43"  # Service Quotas: API Gateway throttle rate per account and Region
HIGH_THROUGHPUT_FIFO_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")  # where DOCUMENTED's 70,000/s applies
Clients = Callable[[str], Any]  # service name -> boto3 client


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    fix: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"[{self.status}] {self.name}: {self.message}" + (f" Fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class Plan:
    """What deploying this template in this environment would ask of the account."""

    environment: Environment
    template: dict[str, Any]
    reserved: dict[str, int]
    access_logging: list[str]  # APIs whose stage logs access (needs API Gateway's CloudWatch Logs role)
    fifo_topics: dict[str, str]  # logical id -> FifoThroughputScope
    subscribed_fifo_queues: dict[str, bool]  # FIFO queues subscribed to a FIFO topic -> high throughput

    @property
    def rate(self) -> int:
        return self.environment.number("ApiRateLimit")

    @property
    def burst(self) -> int:
        return self.environment.number("ApiBurstLimit")


def plan(environment: Environment, template: dict[str, Any]) -> Plan:
    resolve = resolver(environment, template)
    resources = template.get("Resources", {})
    kinds = {name: r.get("Type") for name, r in resources.items()}

    def prop(name: str, key: str, default: Any = None) -> Any:
        """One property, resolved (only the few read here: the rest may use what the resolver leaves out)."""
        value = resources[name].get("Properties", {}).get(key, default)
        return default if value is None else resolve.resolve(value)

    apis = [n for n, t in kinds.items() if t in ("AWS::Serverless::Api", "AWS::ApiGateway::Stage")]
    topics = {n: str(prop(n, "FifoThroughputScope", "Topic")) for n, t in kinds.items()
              if t == "AWS::SNS::Topic" and str(prop(n, "FifoTopic", False)).lower() == "true"}  # fmt: skip
    queues = {}
    for name, kind in kinds.items():
        if kind != "AWS::SNS::Subscription" or prop(name, "TopicArn") not in topics:
            continue
        queue = str(prop(name, "Endpoint", "")).split(".", 1)[0]  # GetAtt Queue.Arn, left symbolic
        if kinds.get(queue) == "AWS::SQS::Queue":
            queues[queue] = prop(queue, "FifoThroughputLimit") == "perMessageGroupId"
    logging = [n for n in apis if prop(n, "AccessLogSetting")]
    return Plan(environment, template, reservations(environment, template), logging, topics, queues)


def _error(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.operation_name}: {code}"
    return str(error)


# ---------------------------------------------------------------- what the account says


def deployed_stack(clients: Clients, stack_name: str) -> dict[str, tuple[str, str]] | str:
    """logical id -> (type, physical id) of the stack as deployed; {} when there is none; an error as text."""
    try:
        paginator = clients("cloudformation").get_paginator("list_stack_resources")
        return {
            r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", ""))
            for page in paginator.paginate(StackName=stack_name)
            for r in page["StackResourceSummaries"]
        }
    except ClientError as error:
        if "does not exist" in str(error):
            return {}
        return _error(error)
    except BotoCoreError as error:
        return str(error)


def _lambda_account(clients: Clients) -> tuple[int | None, int | None, str]:
    """(quota, unreserved, how they were read); None for what could not be read."""
    try:
        limit = clients("lambda").get_account_settings()["AccountLimit"]
        return int(limit["ConcurrentExecutions"]), int(limit["UnreservedConcurrentExecutions"]), ""
    except (ClientError, BotoCoreError, KeyError) as error:
        unread = f"lambda get_account_settings failed ({_error(error)})"
    try:
        quotas = clients("service-quotas")
        quota = quotas.get_service_quota(ServiceCode="lambda", QuotaCode=LAMBDA_CONCURRENCY_QUOTA_CODE)
        return int(quota["Quota"]["Value"]), None, unread
    except (ClientError, BotoCoreError, KeyError) as error:
        return None, None, f"{unread}; service-quotas {LAMBDA_CONCURRENCY_QUOTA_CODE}: {_error(error)}"


@dataclass(frozen=True)
class LambdaAccount:
    quota: int | None
    unreserved: int | None
    unread: str  # why what is None could not be read
    replaced: int | str  # what the deployed stack reserves (given back by the deploy), or why it is unknown


def lambda_account(clients: Clients, deployed: dict[str, tuple[str, str]] | str) -> LambdaAccount:
    quota, unreserved, unread = _lambda_account(clients)
    if isinstance(deployed, str):
        return LambdaAccount(quota, unreserved, unread, deployed)
    try:
        return LambdaAccount(quota, unreserved, unread, sum(_existing_reservations(clients, deployed).values()))
    except (ClientError, BotoCoreError) as error:
        return LambdaAccount(quota, unreserved, unread, _error(error))


def _existing_reservations(clients: Clients, deployed: dict[str, tuple[str, str]]) -> dict[str, int]:
    found = {}
    for logical_id, (kind, name) in deployed.items():
        if kind == "AWS::Lambda::Function" and name:
            value = clients("lambda").get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
            if value:
                found[logical_id] = int(value)
    return found


# ---------------------------------------------------------------- the checks


def check_cloudwatch_role(plan: Plan, clients: Clients) -> Check:
    name = "API Gateway CloudWatch Logs role"
    if not plan.access_logging:
        return Check(name, OK, "no stage logs access: the account setting is not needed.")
    try:
        role_arn = clients("apigateway").get_account().get("cloudwatchRoleArn")
    except (ClientError, BotoCoreError) as error:
        return Check(name, UNKNOWN, f"could not read API Gateway's account settings ({_error(error)}).")
    apis = ", ".join(plan.access_logging)
    if not role_arn:
        return Check(name, FAIL, f"{apis} logs access, and this account and region have no CloudWatch Logs role set "
                     "in API Gateway's settings: the stage would fail with \"CloudWatch Logs role ARN must be set in "
                     "account settings to enable logging\".", "run `make bootstrap` once for this account and region.",
                     {"cloudwatchRoleArn": None})  # fmt: skip
    try:
        clients("iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return Check(name, FAIL, f"API Gateway's settings name {role_arn}, which does not exist.",
                         "run `make bootstrap` (it sets a role it creates).",
                         {"cloudwatchRoleArn": role_arn})  # fmt: skip
        return Check(name, RISK, f"set to {role_arn}, but the role could not be read ({_error(error)}).",
                     numbers={"cloudwatchRoleArn": role_arn})  # fmt: skip
    return Check(name, OK, f"set to {role_arn}.", numbers={"cloudwatchRoleArn": role_arn})


def check_concurrency(plan: Plan, account: LambdaAccount) -> Check:
    name = "Lambda reserved concurrency"
    new = sum(plan.reserved.values())
    quota, unreserved = account.quota, account.unreserved
    numbers: dict[str, Any] = {"reserves": plan.reserved, "quota": quota, "unreserved": unreserved}
    if not new:
        known = f"the account's quota is {quota}" if quota is not None else f"the quota is unknown ({account.unread})"
        return Check(name, OK, f"the template reserves nothing in {plan.environment.name!r}; {known}.", numbers=numbers)
    wants = f"{len(plan.reserved)} x {max(plan.reserved.values())} = {new} reserved"
    if isinstance(account.replaced, str):
        return Check(name, UNKNOWN, f"{wants}; could not read what stack {plan.environment.stack_name} reserves "
                     f"now ({account.replaced}).", numbers=numbers)  # fmt: skip
    if quota is None or unreserved is None:
        return Check(name, UNKNOWN, f"{wants}, against an account whose unreserved concurrency could not be read "
                     f"({account.unread}).", "read it with `aws lambda get-account-settings`.", numbers)  # fmt: skip
    existing = account.replaced
    after = unreserved + existing - new
    numbers.update(replaced=existing, unreserved_after=after)
    replaced = f" (the {existing} the deployed stack reserves are given back first)" if existing else ""
    if after < UNRESERVED_MINIMUM:
        fits = (unreserved + existing - UNRESERVED_MINIMUM) // len(plan.reserved)
        lower = f"lower FunctionConcurrencyLimit to {fits}" if fits > 0 else "set FunctionConcurrencyLimit=0"
        increase = quota + UNRESERVED_MINIMUM - after
        return Check(name, FAIL, f"{wants}, of a quota of {quota} with {unreserved} unreserved{replaced}, would leave "
                     f"{after} unreserved, below Lambda's minimum of {UNRESERVED_MINIMUM}: the functions' creation "
                     "fails (\"Specified ReservedConcurrentExecutions for function decreases account's "
                     "UnreservedConcurrentExecution below its minimum value of [100].\").",
                     f"request a Lambda concurrency increase to at least {increase} (Service Quotas "
                     f"{LAMBDA_CONCURRENCY_QUOTA_CODE}), or {lower}.", numbers)  # fmt: skip
    return Check(name, OK, f"{wants}, of a quota of {quota} with {unreserved} unreserved{replaced}, leaves {after} "
                 f"unreserved (minimum {UNRESERVED_MINIMUM}).", numbers=numbers)  # fmt: skip


def check_function_capacity(plan: Plan, per_order: PerOrder, account: LambdaAccount) -> Check:
    name = "Lambda concurrency at the environment's rate"
    needs = function_needs(plan.rate, per_order, plan.reserved)
    short = [n for n in needs if n.reserved is not None and n.needed > n.reserved]
    numbers: dict[str, Any] = {"rate": plan.rate, "needed": {n.function: n.needed for n in needs}}
    basis = (f"ApiRateLimit {plan.rate}/s x the durations measured on {per_order.measured_on} x {HEADROOM:g}, "
             "saga_ops/capacity.py")  # fmt: skip
    if short:
        worst = max(n.needed for n in short)
        listed = ", ".join(f"{n.function} needs {n.needed}, reserves {n.reserved}" for n in short)
        return Check(name, RISK, f"{listed} ({basis}): under load Lambda throttles, the step retries, then "
                     "compensates.", f"set FunctionConcurrencyLimit to at least {worst} (`make capacity`).",
                     numbers)  # fmt: skip
    shared = sum(n.needed for n in needs if n.reserved is None)
    if account.quota is None or account.unreserved is None or isinstance(account.replaced, str):
        return Check(name, UNKNOWN, f"the functions without a reservation need {shared} ({basis}); the account's "
                     "unreserved concurrency after the deploy could not be read.", numbers=numbers)  # fmt: skip
    pool = account.unreserved + account.replaced - sum(plan.reserved.values())
    numbers["unreserved_pool"] = pool
    if shared > pool:
        return Check(name, RISK, f"the functions without a reservation need {shared} ({basis}), more than the "
                     f"{pool} left unreserved of a quota of {account.quota}.",
                     f"request a Lambda concurrency increase to at least {account.quota - pool + shared}, or lower "
                     "ApiRateLimit.", numbers)  # fmt: skip
    return Check(name, OK, f"every function has what it needs ({basis}); {pool} stay unreserved.", numbers=numbers)


def check_api_throttle(plan: Plan, clients: Clients) -> Check:
    name = "API Gateway account throttle"
    try:
        throttle = clients("apigateway").get_account().get("throttleSettings") or {}
    except (ClientError, BotoCoreError) as error:
        return Check(name, UNKNOWN, f"could not read API Gateway's account settings ({_error(error)}).")
    if "rateLimit" not in throttle or "burstLimit" not in throttle:
        return Check(name, UNKNOWN, "API Gateway's account settings carry no throttleSettings.")
    rate, burst = float(throttle["rateLimit"]), int(throttle["burstLimit"])
    numbers = {"ApiRateLimit": plan.rate, "ApiBurstLimit": plan.burst, "account_rate": rate, "account_burst": burst}
    if plan.rate > rate or plan.burst > burst:
        return Check(name, FAIL, f"the stage would allow {plan.rate}/s (burst {plan.burst}) but the account throttles "
                     f"every API of the region together at {rate:g}/s (burst {burst}): above it clients get 429.",
                     f"lower ApiRateLimit/ApiBurstLimit to {rate:g}/{burst}, or request an increase (Service Quotas "
                     f"{API_THROTTLE_QUOTA_CODE}).", numbers)  # fmt: skip
    return Check(name, OK, f"ApiRateLimit {plan.rate}/s (burst {plan.burst}) is within the account's {rate:g}/s "
                 f"(burst {burst}), which every API of the region shares.", numbers=numbers)  # fmt: skip


def check_express(plan: Plan, per_order: PerOrder) -> Check:
    starts = plan.rate * per_order.express_requests
    return Check("Step Functions Express (StartSyncExecution)", UNKNOWN,
                 f"{starts:g} executions/s at ApiRateLimit; AWS publishes no rate for synchronous Express starts "
                 "(they do not count against StartExecution's bucket; a surge is throttled until capacity scales), "
                 "so there is nothing to read: the API answers such throttles 429 TOO_MANY_REQUESTS.",
                 numbers={"executions_per_second": starts})  # fmt: skip


def check_sns_fifo(plan: Plan, per_order: PerOrder) -> list[Check]:
    """The template's scope is what the topic has once deployed (a deploy applies it to an existing topic)."""
    checks = []
    messages = plan.rate * per_order.sns_publishes
    for topic, template_scope in sorted(plan.fifo_topics.items()):
        name = f"SNS FIFO topic {topic}"
        numbers = {"messages_per_second": messages, "publishes_per_order": per_order.sns_publishes}
        if template_scope != "Topic":
            checks.append(Check(name, UNKNOWN, f"{messages:g} messages/s at ApiRateLimit, against the region's "
                                "FIFO quota of MessageGroup scope, which no API reads.", numbers=numbers))  # fmt: skip
            continue
        quota = DOCUMENTED["sns_fifo_topic"].value
        numbers["quota"] = quota
        said = (
            f"ApiRateLimit {plan.rate}/s x {per_order.sns_publishes:g} events per order = {messages:g} "
            f"messages/s, against {quota:g}/s per topic of Topic scope (AWS's documented limit; no API reads it)"
        )
        if messages > quota:
            checks.append(Check(name, FAIL, f"{said}: the outbox relay's publishes would be throttled and events "
                                "would lag.", f"set FifoThroughputScope: MessageGroup on {topic} (each order is its "
                                "own message group), or lower ApiRateLimit.", numbers))  # fmt: skip
        else:
            group = DOCUMENTED["sns_fifo_message_group"].value
            checks.append(Check(name, OK, f"{said}; each order is its own message group "
                                f"({per_order.sns_publishes:g} messages in its life, {group:g}/s allowed).",
                                numbers=numbers))  # fmt: skip
    return checks


def check_sqs_fifo(plan: Plan, per_order: PerOrder) -> list[Check]:
    checks = []
    messages = plan.rate * per_order.sqs_messages
    for queue, high_throughput in sorted(plan.subscribed_fifo_queues.items()):
        name = f"SQS FIFO queue {queue}"
        numbers = {"messages_per_second": messages}
        if high_throughput and plan.environment.region not in HIGH_THROUGHPUT_FIFO_REGIONS:
            checks.append(Check(name, UNKNOWN, f"{messages:g} messages/s; the high-throughput quota of "
                                f"{plan.environment.region} is not one this tool knows.", numbers=numbers))  # fmt: skip
            continue
        quota = DOCUMENTED["sqs_fifo_high_throughput" if high_throughput else "sqs_fifo"].value
        numbers["quota"] = quota
        said = f"{messages:g} messages/s delivered against {quota:g}/s (AWS's documented limit; no API reads it)"
        if messages > quota:
            fix = (
                "lower ApiRateLimit."
                if high_throughput
                else "turn on high throughput (FifoThroughputLimit: "
                "perMessageGroupId, DeduplicationScope: messageGroup)."
            )
            checks.append(Check(name, FAIL, f"{said}: SNS deliveries would be throttled.", fix, numbers))
        else:
            checks.append(Check(name, OK, f"{said}.", numbers=numbers))
    return checks


def run(
    environment: Environment,
    template: dict[str, Any],
    per_order: PerOrder,
    clients: Clients,
    deployed: dict[str, tuple[str, str]] | None = None,
) -> list[Check]:
    """Every check. `deployed` (logical id -> (type, physical id)) stands for CloudFormation's view of the stack."""
    wanted = plan(environment, template)
    stack = deployed if deployed is not None else deployed_stack(clients, environment.stack_name)
    account = lambda_account(clients, stack)
    return [
        check_cloudwatch_role(wanted, clients),
        check_concurrency(wanted, account),
        check_function_capacity(wanted, per_order, account),
        check_api_throttle(wanted, clients),
        check_express(wanted, per_order),
        *check_sns_fifo(wanted, per_order),
        *check_sqs_fifo(wanted, per_order),
    ]


def report(checks: list[Check], environment: Environment, target: str) -> str:
    counts = {status: sum(1 for c in checks if c.status == status) for status in (FAIL, RISK, UNKNOWN, OK)}
    verdict = "the deploy or its rate WILL FAIL" if counts[FAIL] else "nothing will fail that could be read"
    head = f"Preflight of {environment.stack_name} ({environment.name}, {environment.region}) against {target}:"
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    return "\n".join([head, *(c.line() for c in checks), f"{summary}: {verdict}."])


def to_json(checks: list[Check], environment: Environment, target: str) -> str:
    return json.dumps({"environment": environment.name, "stack": environment.stack_name, "region": environment.region,
                       "target": target, "will_fail": any(c.status == FAIL for c in checks),
                       "checks": [dataclasses.asdict(c) for c in checks]}, indent=2, default=str)  # fmt: skip


def exit_status(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0


def arguments(prog: str, default_env: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--env", default=default_env, help=f"samconfig.toml environment (default {default_env})")
    parser.add_argument("--json", action="store_true", help="the checks as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    import boto3

    from saga_local.cloudformation.template import TEMPLATE_PATH, load

    parser = arguments("python -m saga_ops.preflight", "default")
    parser.add_argument("--endpoint-url", help="an AWS endpoint other than AWS's (e.g. a local one)")
    args = parser.parse_args(argv)
    try:
        template = load(TEMPLATE_PATH)
        environment = load_environment(args.env, template=template)
        per_order = load_per_order()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=environment.region)
    if session.get_credentials() is None:
        print("error: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)", file=sys.stderr)
        return 2

    def clients(service: str) -> Any:
        return session.client(service, endpoint_url=args.endpoint_url)  # type: ignore[call-overload]

    try:
        checks = run(environment, template, per_order, clients)
    except BotoCoreError as error:  # no credentials, no network: nothing could be read
        print(f"error: {error}", file=sys.stderr)
        return 2
    target = args.endpoint_url or f"AWS ({environment.region})"
    print(to_json(checks, environment, target) if args.json else report(checks, environment, target))
    return exit_status(checks)


if __name__ == "__main__":
    sys.exit(main())
