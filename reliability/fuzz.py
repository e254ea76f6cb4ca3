"""Fuzz the order API with schemathesis, driven by api/openapi.yaml (the document API Gateway imports).

    .venv/bin/python -m reliability.fuzz [--max-examples 120] [--seed N] [--url URL --api-key KEY]

Every schemathesis check is on (server errors, status codes, content types, headers and bodies against the
document, schema-valid data accepted, invalid data rejected, missing headers, ignored auth, undeclared methods,
use after free, resource availability, response time under API Gateway's 29 s), plus this API's own rule,
`problem_details`: every rejection (4xx) is application/problem+json whose `detail` names what is wrong.
All phases run: the document's examples, coverage (boundary and missing values, each required header left
out, undeclared methods), fuzzing (positive and negative data) and stateful (POST /orders, then
GET its Location).

Without --url it uses the stack `make local` runs (`SAGA_LOCAL_STATE_DIR`, `.local`) when its API answers, and
otherwise starts one on free ports (saga_local.launch), stopped afterwards. The summary (cases generated,
statuses per operation, failures) is written to .local/reports/fuzz.json and printed; the exit status is 1 when
a check failed or a request errored.
"""

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.engine import events
from schemathesis.engine.statistic import Statistic
from schemathesis.generation.case import Case

from saga_local.apigateway import load_openapi
from saga_local.core import config as local_config
from saga_local.launch import launched_stack
from saga_local.signing import Caller, RequestsSigV4

ROOT = Path(__file__).resolve().parent.parent

DOCUMENT = ROOT / "api" / "openapi.yaml"
REPORT = ROOT / ".local" / "reports" / "fuzz.json"
# Statuses a schema-valid request may get. JSON Schema (draft 4, API Gateway's) cannot say that a SKU must be
# in the catalog, in stock, paid for, or listed once, that an order id exists, nor that an Idempotency-Key keeps
# its first body: those are the saga's answers (README, The API). A 400 for valid data must be the repeated
# SKU (problem_details checks it).
POSITIVE_STATUSES = ["2xx", "400", "402", "404", "409", "422", "429"]
# API Gateway's integration timeout: an answer later than this would be a 504 on AWS.
MAX_RESPONSE_SECONDS = 29
# The header's pattern in the document. A generated key that matches it is made unique (see _fresh_key).
KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{8,128}")
# What `detail` must mention in a rejection of each status: the field, header or rule that was broken.
NAMED = {
    # A field of the model or a header, the body not being JSON, a property the model has not, or "$: " (the
    # body as a whole: not an object, ...).
    400: (
        "customerId",
        "items",
        "sku",
        "quantity",
        "payment",
        "token",
        "Idempotency-Key",
        "orderId",
        "JSON",
        "was unexpected",
        "$: ",
    ),
    402: ("declined",),
    403: ("API key", "signature", "Authentication Token", "not authorized"),  # API Gateway's own IAM messages
    405: ("supports",),
    409: ("requested",),
    413: ("large", "Long"),
    415: ("Content-Type",),
    422: ("catalog", "Idempotency-Key"),
}


@schemathesis.check
def problem_details(ctx: Any, response: schemathesis.Response, case: Case) -> bool | None:
    """A rejection is application/problem+json with a stable code, and its detail names what is wrong."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.split(";")[0].strip() == "application/problem+json", f"{content_type!r}, not problem+json"
    try:
        problem = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"the problem is not JSON: {response.content[:200]!r}") from error
    assert isinstance(problem, dict), f"the problem is not an object: {problem!r}"
    for member in ("type", "title", "code", "detail"):
        assert isinstance(problem.get(member), str), f"the problem has no {member!r}"
        assert problem[member], f"the problem's {member!r} is empty"
    assert problem.get("status", response.status_code) == response.status_code, "status differs from the HTTP one"
    named = NAMED.get(response.status_code)
    if named is not None:
        assert any(word in problem["detail"] for word in named), f"detail names none of {named}: {problem['detail']!r}"
    meta = case.meta
    if response.status_code == 400 and meta is not None and meta.generation.mode.is_positive:
        # The one 400 a schema-valid body may get (JSON Schema cannot express "each SKU once").
        assert "more than once" in problem["detail"], f"schema-valid data rejected: {problem['detail']!r}"
    return None


# Hooks before a call are global in schemathesis: registered on import, like the check above.
# The caller every request is signed as (SigV4): set by fuzz(). The document's sigv4 scheme is an `apiKey` on the
# Authorization header to API Gateway's importer; schemathesis cannot sign, so the signature is added here.
SIGNER: Caller | None = None


@schemathesis.hook("before_call")
def _sign(context: Any, case: Case, kwargs: dict[str, Any]) -> None:
    if SIGNER is not None:
        kwargs["auth"] = RequestsSigV4(SIGNER)


@schemathesis.hook("before_call")
def _fresh_key(context: Any, case: Case, kwargs: dict[str, Any]) -> None:
    """Hypothesis draws few distinct valid keys ("00000000" again and again), so most valid orders would only
    meet IDEMPOTENCY_KEY_REUSED. A valid key is made unique; a malformed or missing one is sent as drawn."""
    headers: MutableMapping[str, Any] = case.headers or {}
    for name, value in headers.items():
        if name.lower() == "idempotency-key" and isinstance(value, str) and KEY_PATTERN.fullmatch(value):
            headers[name] = f"fuzz-{uuid.uuid4().hex}"


def config(api_url: str, api_key: str, max_examples: int, seed: int | None) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "base-url": api_url,
            # As the document's security scheme (not a fixed header), so the missing-key cases really omit it.
            "auth": {"openapi": {"api_key": {"api_key": api_key}}},
            **({"seed": seed} if seed is not None else {}),
            "generation": {"mode": "all", "max-examples": max_examples},
            "phases": {"enabled": True},
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
                "max_response_time": MAX_RESPONSE_SECONDS,
            },
            "request-timeout": MAX_RESPONSE_SECONDS + 5,
            "suppress-health-check": ["too_slow", "filter_too_much"],
        }
    )


def document() -> dict[str, Any]:
    """The API's document as the fuzzer reads it: without the sigv4 scheme. Every request is signed here (before_call),
    so schemathesis must not draw Authorization values of its own, nor leave the header out and expect RFC 9110's 401
    where API Gateway answers 403 (tests/e2e/test_callers.py proves unsigned and badly signed requests are refused)."""
    spec = load_openapi(DOCUMENT)
    for item in spec["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [{k: v for k, v in r.items() if k != "sigv4"} for r in operation["security"]]
    spec["components"]["securitySchemes"].pop("sigv4", None)
    return spec


def fuzz(
    api_url: str, api_key: str, *, max_examples: int, seed: int | None = None, caller: Caller | None = None
) -> dict[str, Any]:
    """Run every phase against the API at `api_url`, each request signed as `caller`; the summary of what was sent
    and what failed."""
    global SIGNER
    SIGNER = caller
    # Loaded as from_path loads a JSON file (the path CI has run for months); from_dict once failed a run with
    # schemathesis's own "unhashable type: 'collections.OrderedDict'", not reproduced in eight runs since.
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "openapi.json"
        copy.write_text(json.dumps(document()), encoding="utf-8")
        schema = schemathesis.openapi.from_path(copy, config=config(api_url, api_key, max_examples, seed))
        return _execute(schema, max_examples)


def _execute(schema: Any, max_examples: int) -> dict[str, Any]:
    """Every phase of `schema`'s run, and the summary of what was sent and what failed."""
    statistic = Statistic()
    statuses: dict[str, Counter[str]] = {}
    phases: Counter[str] = Counter()
    errors: Counter[str] = Counter()  # requests that got no answer, and the like: message -> times
    late_failures: list[str] = []
    stop_reason = ""
    started = time.perf_counter()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            statistic.on_scenario_finished(event.recorder)
            phases[event.phase.value] += len(event.recorder.cases)
            for case_id, interaction in event.recorder.interactions.items():
                if interaction.response is None:
                    continue
                operation = event.recorder.cases[case_id].value.operation.label
                method = interaction.request.method
                label = operation if operation.startswith(method + " ") else f"{method} {operation.split(' ', 1)[1]}"
                statuses.setdefault(label, Counter())[str(interaction.response.status_code)] += 1
        elif isinstance(event, events.NonFatalError):
            errors[f"{event.label}: {event.info.title}: {event.info.message}"] += 1
        elif isinstance(event, events.FatalError):
            errors[f"fatal: {event.exception!r}"] += 1
        elif isinstance(event, events.EngineFinished):
            stop_reason = event.stop_reason.value
            late_failures = [f"{failure.code} {failure.title}: {failure.message}" for failure in event.failures]
    failures = _failures(statistic, late_failures)
    everything: Counter[str] = sum(statuses.values(), Counter())
    return {
        "schemathesis": schemathesis.__version__,
        "seed": schema.config.seed,
        "max_examples": max_examples,
        "seconds": round(time.perf_counter() - started, 1),
        "stop_reason": stop_reason,
        "cases_generated": statistic.total_cases,
        "cases_per_phase": dict(phases),
        "requests": sum(everything.values()),
        "statuses": dict(sorted(everything.items())),
        "statuses_per_operation": {label: dict(sorted(c.items())) for label, c in sorted(statuses.items())},
        "server_errors": sum(n for status, n in everything.items() if status.startswith("5")),
        "failures": failures,
        "errors": dict(errors),
    }


def _failures(statistic: Statistic, late_failures: list[str]) -> list[dict[str, Any]]:
    failures: list[dict[str, Any]] = [
        {
            "operation": label,
            "check": failure.code,
            "title": failure.title,
            "message": failure.message,
            "status": group.response.status_code if group.response is not None else None,
            "reproduce": group.code_sample,
        }
        for label, groups in statistic.failures.items()
        for group in groups.values()
        for failure in group.failures
    ]
    return failures + [{"operation": "run", "check": "after_run", "message": text} for text in late_failures]


def _answers(api_url: str, api_key: str) -> bool:
    """Whether an API is listening there (any HTTP answer will do)."""
    url = f"{api_url}/orders/ord_00000000000000000000000000"
    request = urllib.request.Request(url, headers={"x-api-key": api_key})  # noqa: S310 - a local URL
    try:
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310  # nosec B310  # a local URL
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _api(url: str | None, api_key: str | None) -> Iterator[tuple[str, str, Caller | None]]:
    """The API given (signed with no caller), else the running `make local` stack, else a stack started for this
    run, each signed as its first caller."""
    if url and api_key:
        yield url, api_key, None
        return
    outputs_file = local_config.load().outputs_file
    if outputs_file.exists():
        outputs = json.loads(outputs_file.read_text())
        if _answers(outputs["LocalApiUrl"], outputs["ApiKey"]):
            print(f"Using the running local stack: {outputs['LocalApiUrl']}", flush=True)
            yield outputs["LocalApiUrl"], outputs["ApiKey"], Caller.from_outputs(outputs)
            return
    print("Starting a local stack (saga_local.launch) ...", flush=True)
    # Back-off scaled down, Task timeouts up: the e2e tests' settings, for a machine every emulated Lambda shares.
    with launched_stack({"SAGA_LOCAL_RETRY_SCALE": "0.01", "SAGA_LOCAL_TIMEOUT_SCALE": "10"}) as stack:
        print(f"Local stack ready in {stack.startup_seconds:.1f} s: {stack.outputs['LocalApiUrl']}", flush=True)
        yield stack.outputs["LocalApiUrl"], stack.outputs["ApiKey"], Caller.from_outputs(stack.outputs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=120, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, help="replay a run (the summary records its seed)")
    parser.add_argument("--url", help="the API's base URL, e.g. http://127.0.0.1:3000/dev (default: a local stack)")
    parser.add_argument("--api-key", help="its x-api-key (with --url)")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    if args.max_examples < 1:
        parser.error("--max-examples must be at least 1")
    if bool(args.url) != bool(args.api_key):
        parser.error("--url and --api-key go together")
    with _api(args.url, args.api_key) as (api_url, api_key, caller):
        summary = fuzz(api_url, api_key, max_examples=args.max_examples, seed=args.seed, caller=caller)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"Written to {args.report}")
    return 1 if summary["failures"] or summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
