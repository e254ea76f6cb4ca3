"""Load test of POST /orders: a mix of confirmed, out-of-stock, declined and replayed orders arriving at a
fixed rate, each response checked against the outcome its request should get.

    locust -f loadtest/locustfile.py --headless -u 1 --run-time 60s --rate 1 \
        [--host https://.../dev --api-key KEY] [--mix confirmed=80,out_of_stock=8,declined=7,replayed=5] \
        [--p95-ms 5000 --max-error-rate 0.01 --min-rps 0.8] \
        --csv reports/loadtest/orders --html reports/loadtest/orders.html

`make loadtest` runs it against the local stack (loadtest/run.py). The API URL and key come from --host /
--api-key, else ORDER_API_URL / ORDER_API_KEY, else the local stack's .local/outputs.json.

Why an open model: a real client population does not wait for our answers before sending the next order.
Locust's users are a closed model (each waits for its response, then for `wait_time`), so when the saga
slows down they send less and the slowdown hides itself (coordinated omission); even constant_throughput
only holds its rate while users outnumber rate x latency. Here one scheduler user starts a greenlet per
arrival on a fixed timetable (uniform or Poisson gaps), whatever the responses take: a slow system gets a
growing number of requests in flight and a growing latency, which is what the thresholds must see.
Run it with `-u 1` (the scheduler is one user; --rate is the whole load).
"""

import gc
import itertools
import json
import logging
import os
import random
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from pathlib import Path
from typing import Any

import botocore.session
import gevent
import locust.stats
from gevent.pool import Group
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

from loadtest.outcomes import DEFAULT_CATALOG, Catalog, Judged, Request, judge, judge_replay, new_request
from loadtest.settings import (
    DEFAULT_MIX,
    SCENARIOS,
    ConfigError,
    Thresholds,
    default_outputs_file,
    parse_mix,
    percentile,
    positive,
    resolve_target,
)
from saga_local.signing import Caller, sign

logger = logging.getLogger("loadtest")
NETWORK_TIMEOUT_S = 60.0  # above API Gateway's 29 s integration timeout: the API answers first


class Run:
    """The run's settings and what it observed, shared by the scheduler and every arrival greenlet."""

    def __init__(self) -> None:
        self.api_key = ""
        self.caller: Caller | None = None  # every request is signed (SigV4, execute-api) as this principal
        self.rate = 1.0
        self.poisson = False
        self.weights: dict[str, float] = {}
        self.catalog: Catalog | None = None
        self.thresholds = Thresholds(None, None, None)
        self.max_in_flight = 200
        self.summary_json: Path | None = None
        self.rng = random.Random()  # noqa: S311 - a load mix, not a secret
        self.outcomes: Counter[str] = Counter()
        self.latencies_ms: list[float] = []  # every completed request's, for exact percentiles
        self.arrivals = 0
        self.shed = 0  # arrivals not sent because --max-in-flight requests were already waiting
        # originals that got their expected outcome, for `replayed` arrivals to send again
        self.replayable: deque[tuple[Request, int, Any]] = deque(maxlen=100)


RUN = Run()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("order load test (loadtest/locustfile.py)")
    group.add_argument("--api-key", default=None, help="API key (else ORDER_API_KEY, else the outputs file)")
    group.add_argument("--outputs-file", default=str(default_outputs_file()), help="local stack outputs")
    group.add_argument("--rate", type=float, default=1.0, env_var="LOADTEST_RATE", help="orders per second")
    group.add_argument("--arrivals", choices=("uniform", "poisson"), default="uniform", help="gaps between arrivals")
    group.add_argument("--mix", default=DEFAULT_MIX, env_var="LOADTEST_MIX", help="scenario=weight,...")
    group.add_argument("--catalog", default=str(DEFAULT_CATALOG), help="the seeded inventory (SKUs, stock)")
    group.add_argument("--seed", type=int, default=None, help="random seed for the mix and SKUs")
    group.add_argument("--p95-ms", type=float, default=5000, env_var="LOADTEST_P95_MS", help="max p95; 0: off")
    group.add_argument(
        "--max-error-rate", type=float, default=0.01, env_var="LOADTEST_MAX_ERROR_RATE",
        help="max share of unexpected outcomes (0..1)",
    )  # fmt: skip
    group.add_argument(
        "--min-rps", type=float, default=None, env_var="LOADTEST_MIN_RPS",
        help="min completed requests/s (default 80%% of --rate; 0: off)",
    )  # fmt: skip
    group.add_argument("--max-in-flight", type=int, default=200, help="arrivals beyond this are shed (errors)")
    group.add_argument("--summary-json", default=None, help="write the summary and verdict to this file")
    group.add_argument("--warmup", type=int, default=1, help="confirmed orders sent first, not counted")


@events.init.add_listener
def _configure(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:  # used as a library (no command line): configure() must be called by the caller
        return
    try:
        configure(environment, options)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def configure(environment: Environment, options: Any) -> None:
    target = resolve_target(options.host, options.api_key, os.environ, Path(options.outputs_file))
    environment.host = target.url
    RUN.api_key = target.api_key
    RUN.caller = resolve_caller(Path(options.outputs_file), target.url)
    RUN.rate = positive("--rate", options.rate)
    RUN.poisson = options.arrivals == "poisson"
    RUN.weights = parse_mix(options.mix)
    RUN.catalog = Catalog.load(Path(options.catalog))
    RUN.rng = random.Random(options.seed)  # noqa: S311 - a load mix, not a secret
    RUN.max_in_flight = int(positive("--max-in-flight", options.max_in_flight))
    if options.max_error_rate is not None and not 0 <= options.max_error_rate <= 1:
        raise ConfigError(f"--max-error-rate must be between 0 and 1, got {options.max_error_rate}")
    min_rps = 0.8 * RUN.rate if options.min_rps is None else options.min_rps
    RUN.thresholds = Thresholds(options.p95_ms or None, options.max_error_rate, min_rps or None)
    RUN.summary_json = Path(options.summary_json) if options.summary_json else None
    OrderArrivals.concurrency = RUN.max_in_flight  # FastHttpSession's connection pool: one per request in flight
    logger.info(
        "target %s (from %s), API key from %s; %.2f orders/s %s, mix %s",
        target.url, target.url_source, target.key_source, RUN.rate, options.arrivals, options.mix,
    )  # fmt: skip
    for _ in range(max(0, options.warmup)):
        warm_up(target.url)
    # gevent's loop caches "now" and has not run since Locust started: without this, the --run-time timer,
    # set next, would count from a stale clock and end the run early by the start-up and warm-up time.
    gevent.get_hub().loop.update_now()


def resolve_caller(outputs_file: Path, url: str) -> Caller:
    """The local stack's first caller when the outputs file has Callers, else the AWS credentials botocore finds
    (environment, profile, role) for a deployed API."""
    try:
        outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else {}
    except ValueError:
        outputs = {}
    if outputs.get("Callers") and url.startswith(str(outputs.get("LocalApiUrl", "")).rstrip("/")):
        return Caller.from_outputs(outputs)
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise ConfigError("no AWS credentials to sign with: set AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET")
    frozen = credentials.get_frozen_credentials()
    region = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return Caller("aws", str(frozen.access_key), str(frozen.secret_key), frozen.token, region)


def signed_headers(url: str, data: bytes, idempotency_key: str) -> dict[str, str]:
    headers = {"x-api-key": RUN.api_key, "Idempotency-Key": idempotency_key, "Content-Type": "application/json"}
    assert RUN.caller is not None  # set by configure()
    return sign("POST", url, data, headers, RUN.caller)


def warm_up(url: str) -> None:
    """One confirmed order outside the statistics: a cold stack's first order loads every function's
    clients (seconds on the local stack), which is not what the run is measuring."""
    request = new_request("confirmed", _catalog(), RUN.rng)
    http = urllib.request.Request(  # noqa: S310 - the URL was checked to be http(s)
        f"{url}/orders", data=json.dumps(request.body).encode(), method="POST",
        headers=signed_headers(f"{url}/orders", json.dumps(request.body).encode(), request.idempotency_key),
    )  # fmt: skip
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(http, timeout=NETWORK_TIMEOUT_S) as response:  # noqa: S310  # nosec B310  # checked http(s)
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        raise ConfigError(f"warm-up order to {url}/orders failed: {error}") from error
    logger.info("warm-up order (not counted): %s in %.1f s", status, time.perf_counter() - started)


class OrderArrivals(FastHttpUser):
    """The scheduler: one instance, spawning a greenlet per arrival on a timetable (see the module doc)."""

    fixed_count = 1
    wait_time = constant(0)
    network_timeout = NETWORK_TIMEOUT_S
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.in_flight = Group()
        self.next_arrival = time.monotonic()

    @task
    def arrive(self) -> None:
        delay = self.next_arrival - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        # an absolute timetable (the first arrival at the start): a late wake-up sends at once, the rate holds
        self.next_arrival += RUN.rng.expovariate(RUN.rate) if RUN.poisson else 1 / RUN.rate
        scenario = RUN.rng.choices(SCENARIOS, [RUN.weights[name] for name in SCENARIOS])[0]
        RUN.arrivals += 1
        if len(self.in_flight) >= RUN.max_in_flight:
            RUN.shed += 1
            RUN.outcomes["unexpected"] += 1
            self.environment.events.request.fire(
                request_type="POST", name=f"/orders {scenario}", response_time=0, response_length=0,
                exception=RuntimeError(f"shed: {RUN.max_in_flight} requests already in flight (--max-in-flight)"),
                context={}, response=None, url=None,
            )  # fmt: skip
            return
        self.in_flight.spawn(self.place, scenario)

    def place(self, scenario: str) -> None:
        if scenario == "replayed" and RUN.replayable:
            original, original_status, original_body = RUN.rng.choice(RUN.replayable)
            self._post(original, "replayed", lambda s, b: judge_replay(original_status, original_body, s, b))
            return
        if scenario == "replayed":  # nothing answered yet to replay (the first seconds): a new confirmed order
            scenario = "confirmed"
        request = new_request(scenario, _catalog(), RUN.rng)
        status, body = self._post(request, scenario, lambda s, b: judge(scenario, s, b))
        if status:
            RUN.replayable.append((request, status, body))

    def _post(self, request: Request, name: str, check: Any) -> tuple[int, Any]:
        """POST the request under the stats entry `/orders <name>`; returns (status, body) when the outcome
        was the expected one, (0, None) otherwise."""
        data = json.dumps(request.body).encode()
        headers = signed_headers(f"{self.host}/orders", data, request.idempotency_key)
        with self.client.post(
            "/orders", data=data.decode(), headers=headers, name=f"/orders {name}", catch_response=True
        ) as response:
            status = response.status_code or 0
            RUN.latencies_ms.append(response.request_meta["response_time"])
            try:
                body = json.loads(response.text or "null")
            except ValueError:
                body = response.text
            error = getattr(response, "error", None)
            judged: Judged = check(status, body) if status else Judged("unexpected", f"{name}: no response ({error!r})")
            RUN.outcomes[judged.outcome] += 1
            if judged.problem is None:
                response.success()
                return status, body
            # the failure message is the stats key: keep it free of ids so equal problems group together
            response.failure(f"unexpected: {judged.problem}")
            return 0, None

    def on_stop(self) -> None:
        # Requests in flight when the run time ends still count: wait for them (the network timeout bounds it).
        if not self.in_flight.join(timeout=NETWORK_TIMEOUT_S + 5):
            logger.warning("%d requests still in flight at the end, not counted", len(self.in_flight))
            self.in_flight.kill(block=False)


def _catalog() -> Catalog:
    if RUN.catalog is None:
        raise RuntimeError("loadtest.locustfile.configure() was not called")
    return RUN.catalog


@events.test_stop.add_listener
def _let_csv_catch_up(environment: Environment, **_: Any) -> None:
    # The users are stopped and the requests in flight drained (on_stop). Locust's CSV writer runs every
    # CSV_STATS_INTERVAL_SEC and is not flushed at exit: give it one more turn so the CSV counts them too.
    options = environment.parsed_options
    if options is not None and getattr(options, "csv_prefix", None):
        gevent.sleep(locust.stats.CSV_STATS_INTERVAL_SEC + 0.2)


@events.quitting.add_listener
def _verdict(environment: Environment, **_: Any) -> None:
    """Print p50/p95/p99, rate and outcomes; fail the process when a threshold is missed."""
    total = environment.stats.total
    if RUN.catalog is None:
        return  # not configured: Locust used as a library, or it stopped before the run
    # exact, from every latency (Locust's own, in the CSV and HTML, are rounded to 2 significant digits)
    p50, p95, p99 = (round(percentile(RUN.latencies_ms, share)) for share in (0.5, 0.95, 0.99))
    error_rate = total.fail_ratio
    rps = total.total_rps
    violations = RUN.thresholds.violations(p95, error_rate, rps, total.num_requests)
    outcomes = {name: RUN.outcomes.get(name, 0) for name in itertools.chain(SCENARIOS, ["unexpected"])}
    errors = {str(error.error): error.occurrences for error in environment.stats.errors.values()}
    summary = {
        "arrivals": RUN.arrivals,
        "requests": total.num_requests,
        "rate_offered": RUN.rate,
        "requests_per_second": round(rps, 3),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": round(total.max_response_time or 0),
        "error_rate": round(error_rate, 4),
        "outcomes": outcomes,
        "shed": RUN.shed,
        "errors": errors,
        "thresholds": {
            "p95_ms": RUN.thresholds.p95_ms,
            "max_error_rate": RUN.thresholds.max_error_rate,
            "min_rps": RUN.thresholds.min_rps,
        },
        "violations": violations,
        "passed": not violations,
        # the local stack shares the machine: how busy it was says how far the figures can be trusted
        "machine": {"cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
    }
    print(
        f"\nOrders: {total.num_requests} requests at {rps:.2f}/s (offered {RUN.rate:g}/s); "
        f"p50 {p50} ms, p95 {p95} ms, p99 {p99} ms; error rate {error_rate:.2%}\n"
        f"Outcomes: {', '.join(f'{name} {count}' for name, count in outcomes.items())}",
        flush=True,
    )
    for message, count in errors.items():
        print(f"  {count} x {message}", flush=True)
    print("Thresholds: " + ("passed" if not violations else "FAILED: " + "; ".join(violations)), flush=True)
    if RUN.summary_json:
        RUN.summary_json.parent.mkdir(parents=True, exist_ok=True)
        RUN.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
    _stop_csv_writer()
    runner = environment.runner
    # Locust would exit 1 on any failure; the thresholds decide instead (an error rate may be allowed),
    # but an exception in this file's code still fails the run.
    environment.process_exit_code = 1 if violations or (runner is not None and runner.exceptions) else 0


def _stop_csv_writer() -> None:
    """Locust 2.47 closes the CSV files at shutdown while its CSV writer greenlet still runs (since
    locustio/locust#3486), which then logs "I/O operation on closed file". The final rows are written
    (see _let_csv_catch_up): stop the writer before Locust closes its files."""
    for candidate in gc.get_objects():
        if isinstance(candidate, gevent.Greenlet) and getattr(candidate._run, "__name__", "") == "stats_writer":
            candidate.kill(block=False)
