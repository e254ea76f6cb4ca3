"""`saga-ops list|retry|resolve`: the operator's tool for orders the saga left unfinished or failed.

    saga-ops list                                 stuck, failed and flagged orders, with why
    saga-ops retry ORDER_ID | --all [--dry-run]   run the saga again on the order's saved request (as the sweep does)
    saga-ops resolve ORDER_ID --note TEXT [--dry-run]   mark it resolved by hand: out of the sweep, the note kept

Against AWS with `--stack NAME` (boto3's usual credentials and region; the stack's outputs name the table and the
state machine), or against the running local stack with `--local` (.local/outputs.json). Every change is a
conditional write on what was read, so an order that finished meanwhile is left alone, with a message saying so.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from saga_local.awslambda.code import FUNCTIONS, SHARED_LAYER, import_function_module

# The sweep's own input format and the saga's timestamp format, from the functions' code folders.
_model = import_function_module("recovery_sweep.model", FUNCTIONS / "recovery_sweep", SHARED_LAYER)
FLAGGED: str = _model.FLAGGED
OPEN: str = _model.OPEN
Recovery = _model.Recovery
iso: Callable[[datetime], str] = import_function_module("saga_common.clock", SHARED_LAYER).iso

INDEX = "Sweep"


class OpsError(Exception):
    """A message for the operator: printed without a stack trace, non-zero exit."""


@dataclass
class Target:
    table: Any  # boto3 Table
    sfn: Any
    state_machine_arn: str
    where: str


def aws_target(stack: str) -> Target:
    try:
        outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"cannot read stack {stack!r}: {error}") from None
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    missing = {"OrdersTableName", "OrderSagaStateMachineArn"} - set(values)
    if missing:
        raise OpsError(f"stack {stack!r} has no output {', '.join(sorted(missing))}: is it this application?")
    table = boto3.resource("dynamodb").Table(values["OrdersTableName"])
    return Target(table, boto3.client("stepfunctions"), values["OrderSagaStateMachineArn"], f"stack {stack}")


def local_target(outputs: dict[str, Any]) -> Target:
    from saga_local.stack import CREDENTIALS, REGION, client

    endpoint = outputs["AwsEndpointUrl"]
    resource = boto3.resource("dynamodb", endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)  # type: ignore[call-overload]
    table = resource.Table(outputs["OrdersTableName"])
    return Target(table, client("stepfunctions", endpoint), outputs["OrderSagaStateMachineArn"], f"local {endpoint}")


def indexed(target: Target) -> list[dict[str, Any]]:
    """Every order in the sweep's index (unfinished, failed or flagged): a Query per partition, never a scan."""
    found: list[dict[str, Any]] = []
    for partition in (OPEN, FLAGGED):
        start: dict[str, Any] | None = None
        while True:
            page = target.table.query(IndexName=INDEX, KeyConditionExpression=Key("sweep").eq(partition),
                                      **({"ExclusiveStartKey": start} if start else {}))  # fmt: skip
            found += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    return found


def read(target: Target, order_id: str) -> dict[str, Any]:
    item = target.table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
    if not item:
        raise OpsError(f"no order {order_id}")
    return dict(item)


def why(item: dict[str, Any], now: datetime) -> str:
    document = json.loads(item.get("document") or "{}")
    attempts = int(item.get("recoveryAttempts", 0))
    if item.get("sweep") == FLAGGED:
        reason = f"the sweep gave up after {attempts} attempt(s)"
    elif item.get("status") == "PENDING":
        age = (now - datetime.fromisoformat(str(item["sweepAt"]).replace("Z", "+00:00"))).total_seconds()
        reason = f"not finished, {age:.0f} s since it started or was last retried ({attempts} sweep attempt(s))"
    else:
        reason = f"awaiting the sweep's retry ({attempts} attempt(s) so far)"
    failed = [f"{c.get('service')}: {c.get('error')}" for c in document.get("failedCompensations") or []]
    code = (document.get("failureReason") or {}).get("code")
    return (
        reason
        + (f"; failed for {code}" if code else "")
        + (f"; compensations failed: {', '.join(failed)}" if failed else "")
    )


def list_orders(target: Target, out: Callable[[str], None]) -> int:
    now = datetime.now(UTC)
    items = [read(target, str(i["orderId"])) for i in indexed(target)]
    if not items:
        out(f"no stuck or failed orders ({target.where})")
        return 0
    out(f"{'ORDER':<70} {'STATUS':<20} {'SWEEP':<8} WHY")
    for item in sorted(items, key=lambda i: str(i.get("sweepAt", ""))):
        out(f"{item['orderId']:<70} {item['status']:<20} {item.get('sweep', ''):<8} {why(item, now)}")
    return 0


def retry(target: Target, order_ids: list[str], *, dry_run: bool, out: Callable[[str], None]) -> int:
    failures = 0
    for order_id in order_ids:
        item = read(target, order_id)
        if "sweep" not in item or "savedRequest" not in item:
            out(f"{order_id}: {item['status']}, nothing to retry (finished, resolved, or no saved request)")
            failures += 1
            continue
        attempt = int(item.get("recoveryAttempts", 0)) + 1
        recovery = Recovery(order_id, str(item["idempotencyKey"]), json.loads(str(item["savedRequest"])), attempt,
                            str(item["status"]), iso(datetime.now(UTC)),
                            caller=str(item.get("caller", "")))  # fmt: skip
        if dry_run:
            out(f"{order_id}: would run the saga again ({item['status']}, attempt {attempt}) [dry run]")
            continue
        try:
            target.table.update_item(
                Key={"orderId": order_id},
                UpdateExpression="SET sweep = :open, sweepAt = :now, recoveryAttempts = :attempt, "
                "lastRecoveryAt = :now",
                ConditionExpression="sweep = :sweep AND sweepAt = :sweepAt AND #s = :status",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":open": OPEN, ":now": recovery.swept_at, ":attempt": attempt,
                                           ":sweep": item["sweep"], ":sweepAt": item["sweepAt"],
                                           ":status": item["status"]},
            )  # fmt: skip
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            out(f"{order_id}: changed meanwhile (now {read(target, order_id)['status']}); left alone")
            failures += 1
            continue
        arn = target.sfn.start_execution(
            stateMachineArn=target.state_machine_arn, name=recovery.execution_name, input=recovery.execution_input()
        )
        out(f"{order_id}: saga running again (attempt {attempt}): {arn['executionArn']}")
    return 1 if failures else 0


def resolve(target: Target, order_id: str, note: str, *, dry_run: bool, out: Callable[[str], None]) -> int:
    if not note.strip():
        raise OpsError("--note: say what was done (it is kept on the order)")
    item = read(target, order_id)
    if "sweep" not in item:
        out(f"{order_id}: {item['status']}, finished: nothing to resolve")
        return 1
    resolved_at = iso(datetime.now(UTC))
    resolution = {"note": note, "resolvedAt": resolved_at, "statusWhenResolved": item["status"]}
    # The note goes into the order view itself: GET shows it, and the relay publishes it as order.resolved.
    view = {**json.loads(str(item["document"])), "resolution": resolution, "updatedAt": resolved_at}
    if dry_run:
        out(f"{order_id}: would be marked resolved ({item['status']}) with the note {note!r} [dry run]")
        return 0
    try:
        target.table.update_item(
            Key={"orderId": order_id},
            UpdateExpression="SET resolvedAt = :at, #document = :document, #updatedAt = :at ADD #version :one "
            "REMOVE sweep, sweepAt, savedRequest",
            ConditionExpression="sweep = :sweep AND #s = :status AND #document = :before",
            ExpressionAttributeNames={"#s": "status", "#document": "document", "#updatedAt": "updatedAt",
                                      "#version": "version"},
            ExpressionAttributeValues={":at": resolved_at, ":document": json.dumps(view), ":one": 1,
                                       ":sweep": item["sweep"], ":status": item["status"],
                                       ":before": item["document"]},
        )  # fmt: skip
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        out(f"{order_id}: changed meanwhile (now {read(target, order_id)['status']}); left alone")
        return 1
    out(
        f"{order_id}: resolved ({item['status']}), out of the sweep; the note is on the order and in its "
        "order.resolved event"
    )
    return 0


def run(args: Any, local_outputs: Callable[[], dict[str, Any]]) -> int:
    """`args.command` (list, retry or resolve) against `--stack NAME` on AWS, or the local stack's outputs."""
    target = aws_target(args.stack) if args.stack else local_target(local_outputs())
    out = print
    try:
        if args.command == "list":
            return list_orders(target, out)
        if args.command == "retry":
            if bool(args.all) == bool(args.order_id):
                raise OpsError("retry: name one ORDER_ID or --all")
            ids = [str(i["orderId"]) for i in indexed(target)] if args.all else [args.order_id]
            return retry(target, ids, dry_run=args.dry_run, out=out)
        return resolve(target, args.order_id, args.note, dry_run=args.dry_run, out=out)
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"{target.where}: {error}") from None


def add_target_options(parser: Any) -> None:
    """`--stack NAME` (a deployed stack, boto3's usual credentials and region) or `--local` (the running local
    stack)."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", metavar="NAME", help="a deployed stack's name (AWS, default credentials)")
    where.add_argument("--local", action="store_true", help="the running local stack (saga-local up)")


def add_parsers(commands: Any) -> None:
    listing = commands.add_parser("list", help="stuck, failed and flagged orders, with why")
    add_target_options(listing)
    retry_parser = commands.add_parser("retry", help="run the saga again on an order's saved request")
    retry_parser.add_argument("order_id", nargs="?", metavar="ORDER_ID")
    retry_parser.add_argument("--all", action="store_true", help="every order in the sweep's index")
    retry_parser.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    add_target_options(retry_parser)
    resolve_parser = commands.add_parser("resolve", help="mark an order resolved by hand, with a note")
    resolve_parser.add_argument("order_id", metavar="ORDER_ID")
    resolve_parser.add_argument("--note", required=True, help="what was done (kept on the order)")
    resolve_parser.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    add_target_options(resolve_parser)
