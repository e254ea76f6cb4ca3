"""The commands of `saga-local`, one function each: parsed arguments in, exit status out, CliError for a message."""

import argparse
import base64
import contextlib
import json
import logging
import signal
import sys
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path
from typing import Any

from saga_local.cli import CliError, running_stack
from saga_local.core import config
from saga_local.launch import READY_LINE

log = logging.getLogger(__name__)


def _shown(path: Path) -> str:
    """`path` relative to the current folder when it is inside it (.local/outputs.json), else absolute."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


# ------------------------------------------------------------------------------------------------------------ up
def up(args: argparse.Namespace) -> int:
    from saga_local.cli import console
    from saga_local.cloudformation.provision import ProvisionError
    from saga_local.stack import LocalAws, listening

    overrides: dict[str, Any] = {}
    for option, value, name in (
        ("--concurrency-quota", args.concurrency_quota, "lambda_concurrency_quota"),
        ("--concurrent-executions", args.concurrent_executions, "concurrent_executions"),
    ):
        if value is not None and value < 1:
            raise CliError(f"{option} must be >= 1, got {value}")
        if value is not None:
            overrides[name] = value
    if args.no_bootstrap:
        overrides["bootstrap"] = False
    settings = config.load(**overrides)
    for port, field in ((settings.aws_port, "aws_port"), (settings.api_port, "api_port")):
        if listening(settings.host, port):
            raise CliError(f"port {port} is in use (another local stack?); stop it or set {config.variable(field)}")
    log_file = settings.log_dir / "stack.log"
    print(f"Starting the local stack (template.yaml on an embedded moto); log: {_shown(log_file)}", flush=True)
    started = time.monotonic()
    local = LocalAws(settings)
    real_stderr = sys.stderr
    try:
        local.start(logs_ready=lambda: console.route_output(log_file))
    except ProvisionError as error:  # what CloudFormation would have failed the stack with
        local.stop()
        sys.stderr = real_stderr
        raise CliError(f"the stack cannot be created on this account: {error}") from None
    except KeyboardInterrupt:
        local.stop()
        return 130
    except Exception as error:
        log.exception("the local stack failed to start")
        local.stop()
        sys.stderr = real_stderr
        raise CliError(f"the local stack failed to start: {error} (traceback in {_shown(log_file)})") from None
    _banner(local, time.monotonic() - started, log_file)
    stop = False

    def request_stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stop:
        time.sleep(0.2)
    print(f"{console.clock()} Stopping the local stack", flush=True)
    local.stop()
    return 0


def _banner(local: Any, seconds: float, log_file: Path) -> None:
    settings = local.settings
    callers = ", ".join(f"{index} {caller['Name']}" for index, caller in enumerate(local.callers))
    lines = [
        f"{READY_LINE}: API {local.api_url.rsplit('/', 1)[0]} (started in {seconds:.1f} s)",
        f"  API           {local.api_url}  (IAM-signed: saga-local call METHOD PATH [--caller N])",
        f"  callers       {callers or 'none'}",
        f"  AWS endpoint  {settings.endpoint_url}  (X-Ray daemon on udp {settings.host}:{settings.xray_port})",
        f"  outputs       {_shown(settings.outputs_file)}  (the stack's outputs, the callers' keys)",
        f"  log file      {_shown(log_file)}  (everything; functions' logs beside it)",
        "One line per request below: time, method, path, status, duration, order, caller. Ctrl-C stops.",
    ]
    print("\n".join(lines), flush=True)


# -------------------------------------------------------------------------------------------------------- status
def status(_: argparse.Namespace) -> int:
    from saga_local.stack import NotRunning
    from saga_local.stack import running_stack as find

    settings = config.load()
    try:
        running = find(settings)
    except NotRunning as error:
        print(error)
        return 1
    outputs = running["outputs"]
    print(f"running: stack {running['state'].get('settings', {}).get('stack_name', settings.stack_name)}")
    print(f"  API           {outputs.get('LocalApiUrl')}")
    print(f"  AWS endpoint  {running['endpoint']}")
    print(f"  outputs       {_shown(settings.outputs_file)}")
    print(f"  log file      {_shown(settings.log_dir / 'stack.log')}")
    return 0


# -------------------------------------------------------------------------------------------------------- invoke
def invoke(args: argparse.Namespace) -> int:
    from saga_local.stack import client

    running = running_stack()
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
    if tail := response.get("LogResult"):  # as sam local invoke: the function's log on stderr, its answer on stdout
        sys.stderr.write(base64.b64decode(tail).decode("utf-8", errors="replace").rstrip("\n") + "\n")
        sys.stderr.flush()
    try:
        print(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
    except json.JSONDecodeError:
        print(body)
    return 1 if response.get("FunctionError") else 0


# ---------------------------------------------------------------------------------------------------------- seed
def seed(args: argparse.Namespace) -> int:
    from saga_local.stack import seed_inventory

    running = running_stack()
    if not args.file.is_file():
        raise CliError(f"catalog file {args.file} does not exist")
    try:
        count = seed_inventory(args.file, running["endpoint"], running["state"]["refs"]["InventoryTable"])
    except (ValueError, KeyError, TypeError) as error:
        raise CliError(f"{args.file}: {error}") from None
    print(f"seeded {count} SKUs")
    return 0


# -------------------------------------------------------------------------------------------------------- orders
def orders(args: argparse.Namespace) -> int:
    """The orders table holds orders (a `document`) and key records (an Idempotency-Key mapped to its order by
    `targetOrderId`): the orders are listed, the key records counted."""
    from saga_local.stack import client

    if args.limit < 1:
        raise CliError(f"--limit must be >= 1, got {args.limit}")
    running = running_stack()
    table = running["state"]["refs"]["OrdersTable"]
    items: list[dict[str, Any]] = []
    pages = client("dynamodb", running["endpoint"]).get_paginator("scan").paginate(TableName=table)
    for page in pages:
        items.extend(page["Items"])
    found, keys, other = [], 0, 0
    for item in items:
        if "targetOrderId" in item:
            keys += 1
            continue
        try:
            found.append(json.loads(item["document"]["S"]))
        except (KeyError, ValueError):
            other += 1
    found.sort(key=lambda o: o.get("updatedAt", ""), reverse=True)
    shown = found[: args.limit]
    counted = f"{len(found)} orders (and {keys} key records)" + (f" and {other} other items" if other else "")
    if not shown:
        print(f"no orders yet: {counted}")
        return 0
    width = max(len("ORDER"), *(len(str(o.get("orderId", ""))) for o in shown))
    status_width = max(len("STATUS"), *(len(str(o.get("status", ""))) for o in shown))
    print(f"{'ORDER':<{width}}  {'STATUS':<{status_width}}  {'TOTAL':>10}  {'CUR':<3}  {'REASON':<20}  UPDATED")
    for order in shown:
        reason = (order.get("failureReason") or {}).get("code", "")
        total = "" if order.get("total") is None else order["total"]
        print(f"{order.get('orderId', '')!s:<{width}}  {order.get('status', '')!s:<{status_width}}  {total!s:>10}  "
              f"{order.get('currency') or '':<3}  {reason:<20}  {order.get('updatedAt', '')}")  # fmt: skip
    print(counted + (f"; the {len(shown)} most recently updated above" if len(shown) < len(found) else ""))
    return 0


# --------------------------------------------------------------------------------------------------------- trace
def trace(args: argparse.Namespace) -> int:
    from saga_local.xray.daemon import TraceStore, render_timeline

    store = TraceStore.load(config.load().state_dir / "traces")
    trace_ids = store.traces_for_annotation("orderId", args.order_id)
    if not trace_ids:
        raise CliError(f"no trace recorded for order {args.order_id} (is it an order of this running stack?)")
    for trace_id in trace_ids:
        print(f"trace {trace_id}")
        print(render_timeline(store.timeline(trace_id)))
    return 0


# ------------------------------------------------------------------------------------------------------- patches
def patches(args: argparse.Namespace) -> int:
    from saga_local.core.patches import describe

    print(describe(markdown=args.markdown))
    return 0


# ---------------------------------------------------------------------------------------------------------- call
def call(args: argparse.Namespace) -> int:
    """A request signed as local caller N to the running stack's API, answered like `curl -i`."""
    from saga_local.signing import Caller, signed_request

    method = args.method.upper()
    if not method.isalpha():
        raise CliError(f"METHOD must be an HTTP method such as GET or POST, got {args.method!r}")
    if not args.path.startswith("/"):
        raise CliError(f"PATH must start with /, got {args.path!r}")
    headers: dict[str, str] = {}
    for header in args.header:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            raise CliError(f"--header must be NAME:VALUE, got {header!r}")
        headers[name.strip()] = value.strip()
    body = _body(args.data)
    if body is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    running = running_stack()
    outputs = running["outputs"]
    try:
        caller = Caller.from_outputs(outputs, args.caller)
    except KeyError as error:
        raise CliError(str(error.args[0])) from None
    if outputs.get("ApiKey") and not any(name.lower() == "x-api-key" for name in headers):
        headers["x-api-key"] = str(outputs["ApiKey"])  # the usage plan's key, as every client of the stack sends
    api = str(outputs["LocalApiUrl"]).rstrip("/")
    stage = "/" + api.rsplit("/", 1)[1]
    url = api.rsplit("/", 1)[0] + args.path if args.path.startswith(stage + "/") else api + args.path
    request = signed_request(method, url, body, headers, caller)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310  # nosec B310  # the local API
            status, reply_headers, reply = answer.status, list(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        status, reply_headers, reply = error.code, list(error.headers.items()), error.read()
    except (urllib.error.URLError, OSError) as error:
        raise CliError(f"cannot reach the local API at {url}: {getattr(error, 'reason', error)}") from None
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP {status} {reason}".rstrip(), *(f"{name}: {value}" for name, value in reply_headers), ""]
    text = reply.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):  # not JSON: as it came
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    print("\n".join(lines))
    print(text)
    return 0 if status < 400 else 1


def _body(data: str | None) -> bytes | None:
    if data is None:
        return None
    if data.startswith("@"):
        path = Path(data[1:])
        try:
            return path.read_bytes()
        except OSError as error:
            raise CliError(f"--data {data}: {error.strerror or error}") from None
    return data.encode()
