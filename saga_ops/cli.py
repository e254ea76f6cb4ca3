"""`saga-ops COMMAND`: operate the order saga on a deployed stack (`--stack NAME`) or on the running local stack
(`--local`).

list                                   stuck, failed and flagged orders, with why
retry ORDER_ID | --all [--dry-run]     run the saga again on an order's saved request (as the sweep does)
resolve ORDER_ID --note TEXT           mark an order resolved by hand: out of the sweep, the note kept
preflight [--env E] [--json]           before sam deploy: what the account would refuse (--local: the local stack)
capacity [--env E] [--rate R]          the capacity model: what each AWS limit must hold at a rate of orders/s

Errors are one line on stderr, exit status 2.
"""

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from saga_ops import capacity, ops, preflight


class CliError(Exception):
    """A message for the user: printed without a stack trace, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="saga-ops", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ops.add_parsers(commands)
    check = commands.add_parser("preflight", help="before sam deploy: read the account, say what would fail")
    check.add_argument("--env", default="default", help="samconfig.toml environment (default: default)")
    check.add_argument("--json", action="store_true", help="the checks as JSON")
    where = check.add_mutually_exclusive_group()
    where.add_argument("--endpoint-url", help="an AWS endpoint other than AWS's")
    where.add_argument("--local", action="store_true", help="the running local stack stands for the deployed one")
    model = commands.add_parser("capacity", help="the capacity model (docs/capacity.md)")
    model.add_argument("--env", default="prod", help="samconfig.toml environment (default prod)")
    model.add_argument("--rate", type=float, help="target orders/s (default: the environment's ApiRateLimit)")
    model.add_argument("--report", type=Path, default=capacity.COST_REPORT, help="the measured per-order counts")
    model.add_argument("--json", action="store_true", help="the model as JSON")
    args = parser.parse_args(argv)
    try:
        if args.command in ("list", "retry", "resolve"):
            return ops.run(args, lambda: _running_stack()["outputs"])
        if args.command == "preflight":
            return _local_preflight(args) if args.local else preflight.main(_forwarded(args, "env", "endpoint_url"))
        return capacity.main(_forwarded(args, "env", "rate", "report"))
    except (ops.OpsError, CliError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _forwarded(args: argparse.Namespace, *names: str) -> list[str]:
    """The options of `args` named `names` (and --json), as the module's own command line takes them."""
    argv = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in names if getattr(args, name) is not None]
    return [*argv, "--json"] if args.json else argv


def _running_stack() -> dict[str, Any]:
    from saga_local.core import config
    from saga_local.stack import NotRunning, running_stack

    try:
        return running_stack(config.load())
    except (NotRunning, config.ConfigError) as error:
        raise CliError(str(error)) from None


def _local_preflight(args: argparse.Namespace) -> int:
    """The checks of saga_ops.preflight on the local endpoint: the local stack stands for the deployed one."""
    from saga_local.cloudformation.template import TEMPLATE_PATH, load
    from saga_local.core import config
    from saga_local.stack import REGION, client

    running = _running_stack()
    try:
        template = load(TEMPLATE_PATH)
        environment = capacity.load_environment(args.env, template=template)
        per_order = capacity.load_per_order()
    except capacity.ConfigError as error:
        raise CliError(str(error)) from None
    environment = dataclasses.replace(environment, stack_name=config.load().stack_name, region=REGION)
    functions: dict[str, str] = running["state"]["functions"]
    deployed = {logical_id: ("AWS::Lambda::Function", name) for logical_id, name in functions.items()}
    endpoint = running["endpoint"]
    checks = preflight.run(environment, template, per_order, lambda service: client(service, endpoint), deployed)
    render = preflight.to_json if args.json else preflight.report
    print(render(checks, environment, f"the local stack ({endpoint})"))
    return preflight.exit_status(checks)


if __name__ == "__main__":
    sys.exit(main())
