"""`python -m saga_local COMMAND`: run the order saga's template on one machine, and look inside it.

up                           start the local stack in the foreground (what `make local` runs)
invoke FUNCTION -e EVENT     invoke a function of the running stack with a sample event
seed FILE                    add inventory to the running stack
orders [--limit N]           recent orders and their status
trace ORDER_ID               the order's trace as a timeline
patches [--markdown]         the changes made to moto: what each replaces and why
preflight [--env E] [--json] `make preflight`'s checks against the running stack's account
ops list|retry|resolve       stuck and failed orders (saga_local/ops.py; --stack NAME for a deployed stack)
"""

import argparse
import json
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from saga_local.cloudformation.provision import ProvisionError
from saga_local.stack import LocalAws, Settings, client, seed_inventory


class CliError(Exception):
    """A message for the user: printed without a stack trace, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saga_local", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="start the local stack in the foreground (Ctrl-C stops it)")
    up.add_argument("--concurrency-quota", type=int, metavar="N",
                    help="the account's Lambda concurrency quota (default 1,000, LOCAL_LAMBDA_CONCURRENCY_QUOTA; "
                         "a new account's may be 10)")  # fmt: skip
    up.add_argument("--concurrent-executions", type=int, metavar="N",
                    help="executions the local API runs at once, the rest waiting before theirs starts (default 4, "
                         "LOCAL_CONCURRENT_EXECUTIONS)")  # fmt: skip
    up.add_argument("--no-bootstrap", action="store_true",
                    help="skip bootstrap/account.yaml (API Gateway's CloudWatch Logs role): the stack then fails "
                         "as it would on an account never bootstrapped")  # fmt: skip
    invoke = commands.add_parser("invoke", help="invoke a function of the running stack (like sam local invoke)")
    invoke.add_argument("function", metavar="FUNCTION", help="logical id from template.yaml, e.g. InventoryFunction")
    invoke.add_argument("-e", "--event", type=Path, help="a JSON event file, e.g. events/inventory-reserve.json")
    seed = commands.add_parser("seed", help="add inventory from a JSON catalog file (see data/README.md)")
    seed.add_argument("file", type=Path, metavar="FILE")
    orders = commands.add_parser("orders", help="recent orders and their status")
    orders.add_argument("--limit", type=int, default=20)
    trace = commands.add_parser("trace", help="an order's trace: API, state machine, steps, their AWS calls")
    trace.add_argument("order_id", metavar="ORDER_ID")
    listing = commands.add_parser("patches", help="the changes made to moto: what each replaces and why")
    listing.add_argument("--markdown", action="store_true", help="a Markdown table (for the README)")
    preflight = commands.add_parser("preflight", help="make preflight's checks against the running stack's account")
    preflight.add_argument("--env", default="default", help="samconfig.toml environment whose parameters to check")
    preflight.add_argument("--json", action="store_true", help="the checks as JSON")
    from saga_local import ops

    ops.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        command = {"up": _up, "invoke": _invoke, "seed": _seed, "orders": _orders, "trace": _trace, "patches": _patches,
                   "preflight": _preflight,
                   "ops": lambda a: ops.run(a, lambda: _running_stack()["outputs"])}  # fmt: skip
        return command[args.command](args)
    except ops.OpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _up(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    for option, value, name in (
        ("--concurrency-quota", args.concurrency_quota, "concurrency_quota"),
        ("--concurrent-executions", args.concurrent_executions, "executions_at_once"),
    ):
        if value is not None and value < 1:
            raise CliError(f"{option} must be >= 1, got {value}")
        if value is not None:
            overrides[name] = value
    if args.no_bootstrap:
        overrides["bootstrap"] = False
    try:
        settings = Settings(**overrides)
    except ValueError as error:
        raise CliError(str(error)) from None
    for port, variable in ((settings.aws_port, "LOCAL_AWS_PORT"), (settings.api_port, "LOCAL_API_PORT")):
        if _listening(settings.host, port):
            raise CliError(f"port {port} is in use (another local stack?); stop it or set {variable}")
    started = time.monotonic()
    local = LocalAws(settings)
    try:
        local.start()
    except ProvisionError as error:  # what CloudFormation would have failed the stack with
        local.stop()
        raise CliError(f"the stack cannot be created on this account: {error}") from None
    except BaseException:
        local.stop()
        raise
    print(f"Local stack ready: API {local.api_url.rsplit('/', 1)[0]}", flush=True)
    outputs = settings.outputs_file
    outputs = outputs.relative_to(Path.cwd()) if outputs.is_relative_to(Path.cwd()) else outputs
    print(
        f"  started in {time.monotonic() - started:.1f} s; AWS endpoint {settings.endpoint_url}; "
        f"outputs and API key in {outputs}",
        flush=True,
    )
    stop = False

    def request_stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stop:
        time.sleep(0.2)
    print("Stopping the local stack", flush=True)
    local.stop()
    return 0


def _listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex((host, port)) == 0


def _running_stack() -> dict[str, Any]:
    """The state `up` wrote, once its endpoint answers."""
    settings = Settings()
    if not settings.state_file.exists() or not settings.outputs_file.exists():
        raise CliError("the local stack is not running: start it with `make local`")
    state = json.loads(settings.state_file.read_text())
    outputs = json.loads(settings.outputs_file.read_text())
    host, port = outputs["AwsEndpointUrl"].removeprefix("http://").split(":")
    if not _listening(host, int(port)):
        raise CliError(f"the local stack is not running (nothing answers on {outputs['AwsEndpointUrl']}): make local")
    return {"state": state, "outputs": outputs, "endpoint": outputs["AwsEndpointUrl"]}


def _invoke(args: argparse.Namespace) -> int:
    running = _running_stack()
    functions: dict[str, str] = running["state"]["functions"]
    if args.function not in functions and args.function not in functions.values():
        raise CliError(f"no function {args.function!r}; the template has: {', '.join(sorted(functions))}")
    name = functions.get(args.function, args.function)
    payload = b"{}"
    if args.event is not None:
        if not args.event.is_file():
            raise CliError(f"event file {args.event} does not exist")
        try:
            payload = json.dumps(json.loads(args.event.read_text(encoding="utf-8"))).encode()
        except json.JSONDecodeError as error:
            raise CliError(f"event file {args.event} is not JSON: {error}") from None
    response = client("lambda", running["endpoint"]).invoke(FunctionName=name, Payload=payload, LogType="Tail")
    body = response["Payload"].read().decode()
    try:
        print(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
    except json.JSONDecodeError:
        print(body)
    return 1 if response.get("FunctionError") else 0


def _seed(args: argparse.Namespace) -> int:
    running = _running_stack()
    if not args.file.is_file():
        raise CliError(f"catalog file {args.file} does not exist")
    try:
        count = seed_inventory(args.file, running["endpoint"], running["state"]["refs"]["InventoryTable"])
    except (ValueError, KeyError, TypeError) as error:
        raise CliError(f"{args.file}: {error}") from None
    print(f"seeded {count} SKUs")
    return 0


def _orders(args: argparse.Namespace) -> int:
    running = _running_stack()
    table = running["state"]["refs"]["OrdersTable"]
    items = client("dynamodb", running["endpoint"]).scan(TableName=table)["Items"]
    orders, unreadable = [], 0
    for item in items:
        try:
            orders.append(json.loads(item["document"]["S"]))
        except (KeyError, ValueError):  # not written by the orders service: say so, list the rest
            unreadable += 1
    orders = sorted(orders, key=lambda o: o.get("updatedAt", ""), reverse=True)[: args.limit]
    if unreadable:
        print(f"({unreadable} item(s) of {table} have no readable order document)", file=sys.stderr)
    if not orders:
        print("no orders yet")
        return 0
    print(f"{'ORDER':<32} {'STATUS':<20} {'TOTAL':>10} {'CUR':<4} {'REASON':<20} UPDATED")
    for order in orders:
        reason = (order.get("failureReason") or {}).get("code", "")
        total = "" if order.get("total") is None else order["total"]
        print(f"{order['orderId']:<32} {order['status']:<20} {total!s:>10} {order.get('currency') or '':<4} "
              f"{reason:<20} {order.get('updatedAt', '')}")  # fmt: skip
    return 0


def _trace(args: argparse.Namespace) -> int:
    from saga_local.xray.daemon import TraceStore, render_timeline

    store = TraceStore.load(Settings().local_dir / "traces")
    trace_ids = store.traces_for_annotation("orderId", args.order_id)
    if not trace_ids:
        raise CliError(f"no trace recorded for order {args.order_id} (is it an order of this running stack?)")
    for trace_id in trace_ids:
        print(f"trace {trace_id}")
        print(render_timeline(store.timeline(trace_id)))
    return 0


def _patches(args: argparse.Namespace) -> int:
    from saga_local.patches import describe

    print(describe(markdown=args.markdown))
    return 0


def _preflight(args: argparse.Namespace) -> int:
    """The checks of tools/preflight.py, on the local endpoint: the local stack stands for the deployed one."""
    import dataclasses

    from saga_local.cloudformation.template import TEMPLATE_PATH, load
    from saga_local.stack import REGION
    from tools import capacity, preflight

    running = _running_stack()
    try:
        template = load(TEMPLATE_PATH)
        environment = capacity.load_environment(args.env, template=template)
        per_order = capacity.load_per_order()
    except capacity.ConfigError as error:
        raise CliError(str(error)) from None
    environment = dataclasses.replace(environment, stack_name=Settings().stack_name, region=REGION)
    functions: dict[str, str] = running["state"]["functions"]
    deployed = {logical_id: ("AWS::Lambda::Function", name) for logical_id, name in functions.items()}
    endpoint = running["endpoint"]
    checks = preflight.run(environment, template, per_order, lambda service: client(service, endpoint), deployed)
    render = preflight.to_json if args.json else preflight.report
    print(render(checks, environment, f"the local stack ({running['endpoint']})"))
    return preflight.exit_status(checks)


if __name__ == "__main__":
    sys.exit(main())
