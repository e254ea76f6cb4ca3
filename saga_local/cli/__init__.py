"""`saga-local COMMAND` (or `python -m saga_local COMMAND`): the order saga's template on this machine, and a look
inside it.

up                              start the local stack in the foreground (what `make local` runs)
status                          is a local stack running: its endpoints, outputs file and log file
invoke FUNCTION [-e EVENT]      invoke a function of the running stack; its result, then its log tail
seed FILE                       add inventory to the running stack
orders [--limit N]              recent orders and their status
trace ORDER_ID                  the order's trace as a timeline
patches [--markdown]            the changes made to moto: what each replaces and why
call METHOD PATH [--data JSON|@FILE] [--header K:V] [--caller N]
                                a signed request to the running stack's API, printed like `curl -i`

Errors are one line on stderr, exit status 2. Settings: docs/configuration.md (SAGA_LOCAL_*).
For a deployed stack, and for stuck orders and account checks: `saga-ops`.
"""

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saga_local.core import config


class CliError(Exception):
    """A message for the user: printed without a stack trace, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from saga_local.cli import commands

    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "up": commands.up, "status": commands.status, "invoke": commands.invoke, "seed": commands.seed,
        "orders": commands.orders, "trace": commands.trace, "patches": commands.patches, "call": commands.call,
    }  # fmt: skip
    try:
        return handlers[args.command](args)
    except (CliError, config.ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `saga-local orders | head`: the reader has what it wanted
        _quiet_broken_pipe()
        return 0


def _quiet_broken_pipe() -> None:
    """stdout's reader is gone: point stdout at /dev/null so the interpreter's final flush does not fail again, and
    let SIGPIPE end the process as it ends any Unix command in a pipeline."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saga-local", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="start the local stack in the foreground (Ctrl-C stops it)")
    up.add_argument("--concurrency-quota", type=int, metavar="N",
                    help="the account's Lambda concurrency quota (default 1,000, "
                         f"{config.variable('lambda_concurrency_quota')}; a new account's may be 10)")  # fmt: skip
    up.add_argument("--concurrent-executions", type=int, metavar="N",
                    help="executions the local API runs at once, the rest waiting before theirs starts (default 4, "
                         f"{config.variable('concurrent_executions')})")  # fmt: skip
    up.add_argument("--no-bootstrap", action="store_true",
                    help="skip bootstrap/account.yaml (API Gateway's CloudWatch Logs role): the stack then fails "
                         "as it would on an account never bootstrapped")  # fmt: skip
    commands.add_parser("status", help="is a local stack running: its endpoints, outputs file and log file")
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
    call = commands.add_parser("call", help="a signed request to the running stack's API, printed like curl -i")
    call.add_argument("method", metavar="METHOD", help="GET, POST, ...")
    call.add_argument("path", metavar="PATH", help="the API's path, e.g. /orders (the stage is added)")
    call.add_argument("--data", "-d", metavar="JSON|@FILE", help="the request body: JSON, or @file to read it")
    call.add_argument("--header", "-H", action="append", default=[], metavar="K:V", help="a request header")
    call.add_argument("--caller", type=int, default=0, metavar="N",
                      help="sign as the stack's caller N (0 storefront, 1 back-office, 2 fulfilment)")  # fmt: skip
    return parser


def running_stack() -> dict[str, Any]:
    """The running stack's state, outputs and endpoint (saga_local.stack.running_stack); CliError if none runs."""
    from saga_local.stack import NotRunning, running_stack

    try:
        return running_stack(config.load())
    except NotRunning as error:
        raise CliError(str(error)) from None
