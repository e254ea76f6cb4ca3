"""Benchmark (not a test): each Lambda handler's init time (its cold start) against a boto3 baseline.

    .venv/bin/python -m benchmarks.cold_start [--runs 11] [--target 1.5] [--function PaymentsFunction ...]
    .venv/bin/python -m benchmarks.cold_start --compare HEAD~3    # also that revision's functions/, same run
    .venv/bin/python -m benchmarks.cold_start --importtime PaymentsFunction   # what its init imports, slowest first

What Lambda's Init phase does for a Python function is import the handler's module and look up the handler.
For every AWS::Serverless::Function of template.yaml, this starts fresh processes that see what the execution
environment would: the function's code folder and its layers' folders on the path (the venv's site-packages
standing in for the layers' requirements), the template's environment variables for that function (Globals
merged, intrinsics resolved to plausible names) plus the variables Lambda itself sets, and nothing of this
shell's environment. Each process times `importlib.import_module(<module>)` and the `getattr` of the handler.

The baseline is measured the same way in the same run: a fresh process timing
`import boto3; boto3.client("dynamodb")` (region set), about the least a function that touches DynamoDB
does. Processes run one at a time, round robin over the functions and the baseline (the starting point
rotating each round), so the machine's noise falls on all of them alike. One warm-up round (not counted)
compiles the bytecode first. Prints median, p90 and the ratio to the baseline's median, and the CPU time
of the same span (steadier than wall time on a shared machine); writes reports/cold-start.json; exits 1
when a handler's ratio is above --target (wall clock, or CPU time with --metric cpu).

The venv holds more than a Lambda package would (moto's and the SAM CLI's dependencies: requests, awscrt,
pyOpenSSL...), and boto3 imports some of them when present. `--site-packages DIR` puts DIR in the venv's
place, for figures closer to Lambda's: the layer's requirements plus boto3, which the runtime provides (here
the venv's version), e.g.
    .venv/bin/pip install --target .local/lambda-site -r functions/shared/requirements.txt boto3==1.43.108
"""

import argparse
import datetime
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from saga_local.cloudformation import template as cfn

ROOT = Path(__file__).resolve().parent.parent

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "order-saga-dev"
REPORT = ROOT / "reports" / "cold-start.json"

# Run in the fresh process. Only `importlib` and `time` are imported before the clock starts: the interpreter
# loads `time` at start-up, and Lambda's runtime has `importlib` loaded (it imports the handler with it).
HANDLER_PROBE = """\
import importlib, time
_start, _cpu = time.perf_counter(), time.process_time()
_handler = getattr(importlib.import_module({module!r}), {attribute!r})
_ms, _cpu_ms = (time.perf_counter() - _start) * 1000, (time.process_time() - _cpu) * 1000
import sys
if not callable(_handler):
    sys.exit("handler {module}.{attribute} is not callable")
print(_ms, _cpu_ms, len(sys.modules))
"""
BASELINE_PROBE = """\
import importlib, time
_start, _cpu = time.perf_counter(), time.process_time()
import boto3
boto3.client("dynamodb")
_ms, _cpu_ms = (time.perf_counter() - _start) * 1000, (time.process_time() - _cpu) * 1000
import sys
print(_ms, _cpu_ms, len(sys.modules))
"""
BASELINE = "baseline"


class TemplateError(Exception):
    """template.yaml holds something this benchmark cannot turn into an execution environment."""


@dataclass(frozen=True)
class Target:
    """One thing to time in fresh processes: a function's init, or the baseline."""

    name: str
    what: str  # the handler, or the baseline's statement
    probe: str  # the program the fresh process runs
    environment: dict[str, str]
    cwd: Path
    flags: tuple[str, ...] = ()  # more interpreter flags

    def on_site_packages(self, folder: Path) -> "Target":
        """This target with `folder` as its only third-party code: -S leaves the venv's site-packages out."""
        path = os.pathsep.join(filter(None, [self.environment.get("PYTHONPATH"), str(folder)]))
        return replace(self, environment={**self.environment, "PYTHONPATH": path}, flags=("-S",))


@dataclass
class Samples:
    milliseconds: list[float] = field(default_factory=list)  # wall clock: what a cold start waits
    cpu_milliseconds: list[float] = field(default_factory=list)  # the process's CPU time: less hit by neighbours
    modules: int = 0  # modules loaded once the handler is resolved (the same every run)


# ---------------------------------------------------------------- the template


class _Resolver:
    """Intrinsic functions of the template's environment variables, resolved to plausible names: the ones
    the local stack would give (`<stack>-<LogicalId>`), ARNs for topics, parameter defaults."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.parameters: dict[str, Any] = template.get("Parameters", {})

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            (name, argument), = value.items()  # fmt: skip
            if name == "Ref":
                return self.ref(argument)
            if name == "Fn::Sub":
                return self.sub(argument)
            if name == "Fn::GetAtt":
                logical_id, attribute = argument
                return f"{self.arn(logical_id)}" if attribute == "Arn" else f"{self.ref(logical_id)}.{attribute}"
            if name == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self(part)) for part in parts)
            raise TemplateError(f"{name} is not resolved by this benchmark: {value}")
        return value

    def ref(self, name: str) -> str:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK, "AWS::Partition": "aws"}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return str(self.parameters[name].get("Default", ""))
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"Ref to {name}, which is neither a parameter nor a resource")
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::SNS::Topic":
            return self.arn(name)
        if resource["Type"] == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-{name}"
        if resource["Type"] == "AWS::DynamoDB::Table" and "TableName" in properties:
            return str(self(properties["TableName"]))
        return f"{STACK}-{name}"

    def arn(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        service = resource["Type"].split("::")[1].lower()
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::SNS::Topic":
            name = str(self(properties.get("TopicName", f"{STACK}-{logical_id}")))
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{self.ref(logical_id)}"

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self(variables[name]))
            logical_id, _, attribute = name.partition(".")
            return str(self({"Fn::GetAtt": [logical_id, attribute]}) if attribute else self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def lambda_environment(
    name: str, handler: str, code_dir: Path, layer_dirs: list[Path], variables: dict[str, str], memory: int
) -> dict[str, str]:
    """What a Python execution environment has in its environment during init: the function's variables
    and the ones Lambda sets (LAMBDA_TASK_ROOT among them: the X-Ray SDK and Powertools Tracer look for it)."""
    physical_name = f"{STACK}-{name}"
    return {
        **variables,
        "AWS_LAMBDA_FUNCTION_NAME": physical_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{physical_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2025/01/01/[$LATEST]cold-start",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_ACCESS_KEY_ID": "cold-start",
        "AWS_SECRET_ACCESS_KEY": "cold-start",
        "AWS_SESSION_TOKEN": "cold-start",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "_HANDLER": handler,
        "PYTHONPATH": os.pathsep.join(str(path) for path in (code_dir, *layer_dirs)),
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
    }


def function_targets(template: dict[str, Any], code_root: Path = ROOT, label: str = "") -> list[Target]:
    """One target per AWS::Serverless::Function, with Globals applied as SAM applies them; code and layer
    folders are taken under `code_root` (another revision's checkout), names suffixed with `label`."""
    resolve = _Resolver(template)
    globals_ = template.get("Globals", {}).get("Function", {})
    layers = cfn.resources_of_type(template, "AWS::Serverless::LayerVersion")
    targets = []
    for name, resource in cfn.resources_of_type(template, "AWS::Serverless::Function").items():
        properties = {**globals_, **resource.get("Properties", {})}
        handler, code_uri = properties.get("Handler"), properties.get("CodeUri")
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{name}: Handler must be <module>.<function>, got {handler!r}")
        if not isinstance(code_uri, str) or not (code_root / code_uri).is_dir():
            raise TemplateError(f"{name}: CodeUri must be a folder of this repository, got {code_uri!r}")
        layer_dirs = []
        # SAM puts the Globals' layers first, then the function's own.
        for layer in [*globals_.get("Layers", []), *resource.get("Properties", {}).get("Layers", [])]:
            logical_id = layer.get("Ref") if isinstance(layer, dict) else None
            if logical_id not in layers:
                raise TemplateError(f"{name}: layer {layer!r} is not an AWS::Serverless::LayerVersion of the template")
            layer_dirs.append(code_root / layers[logical_id]["Properties"]["ContentUri"])
        variables = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        }
        environment = lambda_environment(
            name,
            handler,
            code_root / code_uri,
            layer_dirs,
            {key: str(resolve(value)) for key, value in variables.items()},
            int(properties.get("MemorySize", 128)),
        )
        module, attribute = handler.rsplit(".", 1)
        probe = HANDLER_PROBE.format(module=module, attribute=attribute)
        targets.append(Target(f"{name}{label}", handler, probe, environment, code_root / code_uri))
    return targets


def baseline_target() -> Target:
    environment = lambda_environment("Baseline", "", ROOT, [], {}, 512)
    del environment["PYTHONPATH"], environment["LAMBDA_TASK_ROOT"], environment["_HANDLER"]
    return Target(BASELINE, 'import boto3; boto3.client("dynamodb")', BASELINE_PROBE, environment, ROOT)


# ---------------------------------------------------------------- measuring


def run_once(target: Target, *extra_flags: str) -> subprocess.CompletedProcess[str]:
    # -P: neither the current folder nor the script's is put on sys.path; the environment's PYTHONPATH is it.
    command = [sys.executable, "-P", *target.flags, *extra_flags, "-c", target.probe]
    return subprocess.run(command, env=target.environment, cwd=target.cwd, capture_output=True, text=True, check=False)  # noqa: S603


def measure(target: Target) -> tuple[float, float, int]:
    """(wall ms, CPU ms, modules loaded) of one fresh process."""
    process = run_once(target)
    if process.returncode != 0:
        raise RuntimeError(f"{target.name}: init failed (exit {process.returncode}):\n{process.stderr.strip()}")
    milliseconds, cpu_milliseconds, modules = process.stdout.split()[-3:]
    return float(milliseconds), float(cpu_milliseconds), int(modules)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run_rounds(targets: list[Target], runs: int) -> dict[str, Samples]:
    samples = {target.name: Samples() for target in targets}
    for target in targets:  # warm-up: writes the bytecode caches, not counted
        measure(target)
    for round_number in range(runs):
        shift = round_number % len(targets)  # who goes first changes every round
        for target in targets[shift:] + targets[:shift]:
            milliseconds, cpu_milliseconds, modules = measure(target)
            samples[target.name].milliseconds.append(milliseconds)
            samples[target.name].cpu_milliseconds.append(cpu_milliseconds)
            samples[target.name].modules = modules
        print(f"  round {round_number + 1}/{runs} done", file=sys.stderr)
    return samples


def importtime(target: Target, top: int) -> str:
    """The imports of one init, slowest (cumulative) first, from `python -X importtime`."""
    # An import statement: -X importtime does not time importlib.import_module's own module.
    process = run_once(replace(target, probe=f"import {target.what.rsplit('.', 1)[0]}"), "-X", "importtime")
    if process.returncode != 0:
        raise RuntimeError(f"{target.name}: init failed (exit {process.returncode}):\n{process.stderr.strip()}")
    rows = []  # (cumulative us, self us, module with its nesting indent)
    for line in process.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
    rows.sort(reverse=True)
    lines = [f"{'cumulative ms':>13} {'self ms':>8}  module"]
    lines += [f"{cumulative / 1000:13.1f} {own / 1000:8.1f}  {name}" for cumulative, own, name in rows[:top]]
    return "\n".join(lines)


# ---------------------------------------------------------------- report


def checkout(ref: str, into: Path) -> None:
    """The functions/ folder of git revision `ref`, written under `into`."""
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", "--format=tar", ref, "--", "functions"],  # noqa: S607
        cwd=ROOT, capture_output=True, check=False,
    )  # fmt: skip
    if archive.returncode != 0:
        raise RuntimeError(f"--compare {ref}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def summarize(targets: list[Target], samples: dict[str, Samples]) -> list[dict[str, Any]]:
    """One row per target: median, p90 and ratio to the baseline's median (the first target)."""
    base = samples[targets[0].name]
    base_median, base_cpu = statistics.median(base.milliseconds), statistics.median(base.cpu_milliseconds)
    rows = []
    for target in targets:
        measured = samples[target.name]
        median, cpu = statistics.median(measured.milliseconds), statistics.median(measured.cpu_milliseconds)
        rows.append({
            "function": target.name,
            "handler": target.what,
            "median_ms": round(median, 1),
            "p90_ms": round(percentile(measured.milliseconds, 0.9), 1),
            "ratio": round(median / base_median, 2),
            "cpu_median_ms": round(cpu, 1),
            "cpu_ratio": round(cpu / base_cpu, 2),
            "modules": measured.modules,
            "samples_ms": [round(value, 1) for value in measured.milliseconds],
            "cpu_samples_ms": [round(value, 1) for value in measured.cpu_milliseconds],
        })  # fmt: skip
    return rows


def print_table(rows: list[dict[str, Any]], over: list[dict[str, Any]]) -> None:
    print(
        f"\n{'function':<30} {'median ms':>10} {'p90 ms':>8} {'x baseline':>11} {'CPU ms':>8} {'x':>5} {'modules':>8}"
    )
    for row in rows:
        flag = "  OVER TARGET" if row in over else ""
        wall = f"{row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} {row['ratio']:>11.2f}"
        cpu = f"{row['cpu_median_ms']:>8.1f} {row['cpu_ratio']:>5.2f}"
        print(f"{row['function']:<30} {wall} {cpu} {row['modules']:>8}{flag}")


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    try:
        template = cfn.load()
        everything = function_targets(template)
    except (TemplateError, KeyError, ValueError, TypeError) as error:
        print(f"template.yaml: {error}", file=sys.stderr)
        return 2
    _check_names(parser, args, [target.name for target in everything])
    load_at_start = round(os.getloadavg()[0], 2)
    functions = [target for target in everything if target.name in args.function] if args.function else everything
    with tempfile.TemporaryDirectory(prefix="cold-start-") as other:
        try:
            if args.importtime:
                print(importtime(_importtime_target(everything, args), top=40))
                return 0
            targets = _targets(template, functions, args, Path(other))
            print(f"{len(targets)} targets x {args.runs} fresh processes, round robin, after a warm-up round",
                  file=sys.stderr)  # fmt: skip
            samples = run_rounds(targets, args.runs)
        except (RuntimeError, TemplateError) as error:
            print(error, file=sys.stderr)
            return 2

    rows = summarize(targets, samples)
    current = rows[1 : 1 + len(functions)]  # rows: the baseline, these functions, then --compare's
    ratio = "ratio" if args.metric == "wall" else "cpu_ratio"
    over = [row for row in current if row[ratio] > args.target]
    print_results(rows, over, args)
    write_report(build_report(rows, len(functions), args, load_at_start), args.output)
    if over:
        over_names = ", ".join(row["function"] for row in over)
        print(f"{len(over)} handler(s) above {args.target}x the baseline ({args.metric}): {over_names}")
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=_positive_int, default=11, help="fresh processes per function (default 11)")
    parser.add_argument("--target", type=_positive_float, default=1.5, help="highest ratio to the baseline allowed")
    parser.add_argument(
        "--metric",
        choices=("wall", "cpu"),
        default="wall",
        help="ratio checked against --target (cpu: steadier when the machine is busy)",
    )
    parser.add_argument("--function", action="append", metavar="LOGICAL_ID", help="only these functions (repeatable)")
    parser.add_argument("--compare", metavar="GIT_REF", help="also measure the functions/ of this revision, same run")
    parser.add_argument(
        "--site-packages", type=_folder, metavar="DIR", help="third-party code from DIR instead of the venv (see above)"
    )
    parser.add_argument("--output", type=Path, default=REPORT, help=f"JSON report ({REPORT.relative_to(ROOT)})")
    parser.add_argument("--importtime", metavar="LOGICAL_ID", help="print what this function's init imports and exit")
    return parser


def _check_names(parser: argparse.ArgumentParser, args: argparse.Namespace, known: list[str]) -> None:
    """--function and --importtime name functions of template.yaml, or the usage error exits."""
    for name in [*(args.function or []), *([args.importtime] if args.importtime else [])]:
        if name not in known:
            parser.error(f"{name} is not a function of template.yaml (functions: {', '.join(known)})")


def _importtime_target(everything: list[Target], args: argparse.Namespace) -> Target:
    target = next(t for t in everything if t.name == args.importtime)
    if args.site_packages:
        target = target.on_site_packages(args.site_packages.resolve())
    return target


def _targets(template: dict[str, Any], functions: list[Target], args: argparse.Namespace, other: Path) -> list[Target]:
    """The baseline, the functions, then (--compare) the same functions of that revision checked out in `other`."""
    compared: list[Target] = []
    if args.compare:
        checkout(args.compare, other)
        names = {target.name for target in functions}
        compared = [t for t in function_targets(template, other, f"@{args.compare}") if t.name in
                    {f"{name}@{args.compare}" for name in names}]  # fmt: skip
    targets = [baseline_target(), *functions, *compared]
    if args.site_packages:
        targets = [target.on_site_packages(args.site_packages.resolve()) for target in targets]
    return targets


def print_results(rows: list[dict[str, Any]], over: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print_table(rows, over)
    print(f"\nbaseline: a fresh process timing {rows[0]['handler']}")
    print(f"target: at most {args.target}x the baseline's median ({args.metric})")
    print("CPU ms: the process's CPU time over the same span (the median wall time without the neighbours' share)")


def build_report(
    rows: list[dict[str, Any]], function_count: int, args: argparse.Namespace, load_at_start: float
) -> dict[str, Any]:
    """reports/cold-start.json: the machine, the method, the baseline's row and each function's."""
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m": [load_at_start, round(os.getloadavg()[0], 2)],  # at start, at end
        },
        "method": "median of fresh processes timing import_module(handler module) + getattr(handler), "
        "round robin with the baseline; Lambda's environment variables; bytecode compiled by a warm-up round; "
        "ratio = median / baseline median (wall clock); cpu_* = the process's CPU time over the same span",
        "site_packages": str(args.site_packages) if args.site_packages else "the venv's",
        "runs": args.runs,
        "target_ratio": args.target,
        "target_metric": args.metric,
        "baseline": rows[0],
        "functions": rows[1 : 1 + function_count],
    }
    if compared := rows[1 + function_count :]:
        report["compared_revision"] = {"ref": args.compare, "functions": compared}
    return report


def write_report(report: dict[str, Any], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _folder(text: str) -> Path:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"must be a folder, got {text!r}")
    return Path(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
