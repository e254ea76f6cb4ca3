"""A chaos run: many orders against a local stack with faults injected everywhere, then every invariant
checked from what the tables, the audit queue and the DLQs hold (reliability/invariants.py).

    .venv/bin/python -m reliability.chaos --orders 2000 --concurrency 8     # make chaos ORDERS=2000 CONCURRENCY=8

It starts its own local stack (free ports, its own state folder; a running dev stack is left alone),
seeds SKUs of its own with small stock (so orders run out of it), turns faults on (saga_local/faults.py
rules: every function errors, crashes after its side effect, times out, is delivered twice; DynamoDB and
SNS calls are throttled), then places N orders at concurrency C with a mix of payment tokens, an unknown
SKU now and then, replays of Idempotency-Keys (same body: same answer expected) and reused keys (another
body: 422). Half-way, it writes a stream record made poison on purpose, among the orders' own records.
A client answered 429 or 504 retries with the same key, as the API tells it to. When every order has
answered, it waits for the outbox to drain, reads everything, checks, writes `.local/reports/chaos.json`
and exits 1 on any violation (2 on bad arguments).
"""

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from reliability.invariants import ORDER_PREFIX, DeadLetter, Event, Request, Snapshot, StreamRecord, check
from saga_local.cloudformation.template import ROOT
from saga_local.launch import Launched, launched_stack
from saga_local.signing import Caller, sign

REPORT = ROOT / ".local" / "reports" / "chaos.json"
TOKENS = {"tok_visa": 0.70, "tok_chargeDeclined": 0.10, "tok_processingError": 0.12, "tok_unavailable": 0.08}
UNKNOWN_SKU = "CHAOS-UNKNOWN"
SAGA_FUNCTIONS = ("InventoryFunction", "PaymentsFunction", "BillingFunction")  # the orders: DynamoDB faults below
RETRIES_ON_NO_OUTCOME = 6  # a 429 or a 504 is retried with the same key, up to this many times
QUIET_SECONDS = 4.0  # the outbox is drained once every expected event arrived and nothing came for this long
DRAIN_TIMEOUT_SECONDS = 180.0
# The recovery sweep in the run: every 2 s, an order due 20 s after it started or was last retried (longer than an
# execution takes here), retries backed off 2 s x 2^(n-1), 5 at most. Every order must be final within the window.
SWEEP_SETTINGS = {
    "SAGA_LOCAL_SCHEDULE_SECONDS": "2",
    "SAGA_LOCAL_FUNCTION_ENV_STUCK_AFTER_SECONDS": "20",
    "SAGA_LOCAL_FUNCTION_ENV_RETRY_BACKOFF_SECONDS": "2",
    "SAGA_LOCAL_FUNCTION_ENV_RETRY_LIMIT": "5",
}
SWEEP_WINDOW_SECONDS = 240.0


def fault_rules(scale: float) -> list[dict[str, Any]]:
    """Faults everywhere, at rates (times `scale`) a saga must survive: each step retries technical errors."""
    rules: list[dict[str, Any]] = []
    for function in SAGA_FUNCTIONS:
        rules += [
            {"function": function, "fault": "crash", "rate": 0.015 * scale},
            {"function": function, "fault": "timeout", "rate": 0.005 * scale},
            {"function": function, "fault": "duplicate", "rate": 0.03 * scale},
            {"function": function, "error": "ServiceException", "message": "injected: Lambda service error",
             "rate": 0.02 * scale},
            {"function": function, "fault": "latency", "latencyMs": 150, "rate": 0.05 * scale},
        ]  # fmt: skip
    rules += [
        {"function": "OutboxRelayFunction", "fault": "duplicate", "rate": 0.10 * scale},
        {"function": "OutboxRelayFunction", "fault": "crash", "rate": 0.03 * scale},
        {"function": "OutboxRelayFunction", "error": "ServiceException", "rate": 0.03 * scale},
        {"service": "dynamodb", "operation": "*", "fault": "throttle", "rate": 0.03 * scale},
        {"service": "dynamodb", "operation": ["TransactWriteItems", "PutItem"], "fault": "throttle",
         "error": "ThrottlingException", "rate": 0.01 * scale},
        {"service": "sns", "operation": "Publish", "fault": "throttle", "rate": 0.05 * scale},
        # The orchestrator goes away after a state, or the machine's own timeout is reached: no Catch, no
        # compensation; the recovery sweep must finish the order (about 3% and 1% of executions).
        {"state": "*", "fault": "halt", "rate": 0.002 * scale},
        {"state": "*", "fault": "timeout", "rate": 0.0007 * scale},
    ]  # fmt: skip
    return [{**rule, "rate": min(1.0, rule["rate"])} for rule in rules]


def catalog(orders: int) -> list[dict[str, Any]]:
    """The run's own SKUs: a scarce one, two tight ones, a plentiful one (stock scales with the run)."""
    return [
        {"sku": "CHAOS-SCARCE", "name": "Scarce", "unitPrice": 2500, "currency": "USD", "stock": max(4, orders // 10)},
        {"sku": "CHAOS-TIGHT-1", "name": "Tight 1", "unitPrice": 1299, "currency": "USD", "stock": max(8, orders // 2)},
        {
            "sku": "CHAOS-TIGHT-2",
            "name": "Tight 2",
            "unitPrice": 799,
            "currency": "USD",
            "stock": max(10, orders * 2 // 3),
        },
        {"sku": "CHAOS-PLENTY", "name": "Plenty", "unitPrice": 199, "currency": "USD", "stock": orders * 3},
    ]


@dataclass
class Plan:
    key: str
    body: dict[str, Any]
    replay: bool  # send the same request again after its answer
    reuse: bool  # then send the same key with another body


def plans(count: int, skus: list[str], rng: random.Random, run_id: str) -> list[Plan]:
    result = []
    for index in range(count):
        lines = rng.sample(skus, rng.choice((1, 1, 2)))
        items = [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in lines]
        if rng.random() < 0.02:
            items.append({"sku": UNKNOWN_SKU, "quantity": 1})
        token = rng.choices(list(TOKENS), weights=list(TOKENS.values()))[0]
        body = {"customerId": f"chaos-{index % 50}", "items": items, "payment": {"token": token}}
        result.append(Plan(f"chaos-{run_id}-{index:05d}", body, rng.random() < 0.15, rng.random() < 0.03))
    return result


class Client:
    def __init__(self, api_url: str, api_key: str, caller: Caller) -> None:
        self.api_url, self.api_key, self.caller = api_url, api_key, caller
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self.began = time.perf_counter()

    def post(self, key: str, body: dict[str, Any], kind: str) -> Request:
        """POST /orders; a 429 or 504 is recorded, then retried with the same key until it has an outcome. A retry
        of a reused key's request is still "reused" (its other body must be refused), not the original's "retry"."""
        for attempt in range(RETRIES_ON_NO_OUTCOME + 1):
            request = self._post_once(key, body, kind if attempt == 0 or kind == "reused" else "retry")
            with self._lock:
                self.requests.append(request)
            if request.status not in (429, 504):
                break
            time.sleep(1 + attempt)
        return request

    def _post_once(self, key: str, body: dict[str, Any], kind: str) -> Request:
        sent = time.perf_counter() - self.began
        url, data = f"{self.api_url}/orders", json.dumps(body).encode()
        headers = {"x-api-key": self.api_key, "Idempotency-Key": key, "Content-Type": "application/json"}
        http = urllib.request.Request(  # noqa: S310 - the local API
            url, data=data, method="POST", headers=sign("POST", url, data, headers, self.caller),
        )  # fmt: skip
        try:
            with urllib.request.urlopen(http, timeout=120) as response:  # noqa: S310  # nosec B310  # the local API
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return Request(key, body, status, parsed, kind, caller=self.caller.owner, sent=round(sent, 3),
                       answered=round(time.perf_counter() - self.began, 3))  # fmt: skip


def place(client: Client, plan: Plan) -> None:
    first = client.post(plan.key, plan.body, "original")
    if plan.replay:
        client.post(plan.key, plan.body, "replay")
    if plan.reuse and first.status == 201:  # the key now names an order: another body must be refused
        other = {**plan.body, "customerId": f"{plan.body['customerId']}-other"}
        client.post(plan.key, other, "reused")


class AuditReader:
    """Receives (and deletes) every audit queue message from the start, in order, on a thread."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs, self.queue_url = sqs, queue_url
        self.events: list[Event] = []
        self.last_received = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-reader", daemon=True)

    def start(self) -> "AuditReader":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"], VisibilityTimeout=60,
                )  # fmt: skip
            except Exception as error:  # the stack is busy: keep reading
                print(f"audit queue: {error}", file=sys.stderr)
                time.sleep(0.5)
                continue
            messages = response.get("Messages", [])
            for message in messages:
                attributes = message.get("Attributes", {})
                self.events.append(
                    Event(attributes.get("MessageDeduplicationId", ""), attributes.get("MessageGroupId", ""),
                          json.loads(message["Body"]))
                )  # fmt: skip
            if messages:
                self.last_received = time.monotonic()
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items, start = [], None
    while True:
        page = dynamodb.Table(table).scan(**({"ExclusiveStartKey": start} if start else {}), ConsistentRead=True)
        items += [_plain(item) for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def drain_queue(sqs: Any, url: str) -> list[DeadLetter]:
    """Every message of a queue (received with its attributes, then deleted): for the DLQs."""
    found: list[DeadLetter] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            try:
                body = json.loads(message["Body"])
            except ValueError:
                body = {"body": message["Body"]}
            found.append(DeadLetter(body if isinstance(body, dict) else {"body": body}, message.get("Attributes", {})))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def expected_events(orders: list[dict[str, Any]], poison: set[str]) -> set[str]:
    """The deduplication ids the outbox owes: each order's placed and its final status."""
    owed = set()
    for item in orders:
        if item["orderId"] in poison or not item["orderId"].startswith(ORDER_PREFIX):  # an Idempotency-Key record
            continue
        owed.add(f"{item['orderId']}:PENDING")
        if item["status"] != "PENDING":
            owed.add(f"{item['orderId']}:{item['status']}")
    return owed


@dataclass
class Local:
    """The run's stack, and the clients and names the run reads it with."""

    stack: Launched
    session: Any
    config: Config
    dynamodb: Any
    sqs: Any
    state: dict[str, Any]
    tables: dict[str, str]
    queues: dict[str, str]  # logical id -> queue URL

    @classmethod
    def connect(cls, stack: Launched) -> "Local":
        # moto takes any credentials
        session = boto3.session.Session("local", "local", region_name="us-east-1")
        config = Config(inject_host_prefix=False, retries={"max_attempts": 5, "mode": "standard"})
        endpoint = stack.outputs["AwsEndpointUrl"]
        dynamodb = session.resource("dynamodb", endpoint_url=endpoint, config=config)
        sqs = session.client("sqs", endpoint_url=endpoint, config=config)
        state = json.loads((stack.state_dir / "stack.json").read_text())
        tables = {name: state["refs"][name] for name in
                  ("OrdersTable", "InventoryTable", "PaymentsTable", "BillingTable", "IdempotencyTable")}  # fmt: skip
        queues = {name: sqs.get_queue_url(QueueName=state["refs"][name].rsplit("/", 1)[-1])["QueueUrl"]
                  for name in ("AuditQueue", "AuditDLQ", "OutboxRelayDLQ")}  # fmt: skip
        return cls(stack, session, config, dynamodb, sqs, state, tables, queues)

    def scan(self, table: str) -> list[dict[str, Any]]:
        return scan(self.dynamodb, self.tables[table])

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.stack.outputs["AwsEndpointUrl"], config=self.config)


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)  # noqa: S311 - an order mix, not cryptography
    run_id = f"{args.seed}-{int(time.time())}"
    folder = Path(tempfile.mkdtemp(prefix="saga-chaos-"))
    rules_path = folder / "faults.json"
    env = {
        "SAGA_LOCAL_FAULTS_FILE": str(rules_path),
        "SAGA_LOCAL_RETRY_SCALE": os.environ.get("SAGA_LOCAL_RETRY_SCALE", "0.1"),
        "SAGA_LOCAL_TIMEOUT_SCALE": os.environ.get("SAGA_LOCAL_TIMEOUT_SCALE", "10"),
        **SWEEP_SETTINGS,
    }
    items = catalog(args.orders)
    initial = {item["sku"]: item["stock"] for item in items}
    rules = fault_rules(args.fault_scale)
    poison = {f"{ORDER_PREFIX}poison-{run_id}"}  # an order's id: the relay's filter lets only orders' INSERTs through
    started = time.perf_counter()
    with launched_stack(env, keep=True) as stack:
        print(f"stack state (logs, traces): {stack.state_dir}", flush=True)
        local = Local.connect(stack)
        seed_file = folder / "catalog.json"
        seed_file.write_text(json.dumps(items))
        _seed(seed_file, stack.state_dir)
        audit = AuditReader(local.sqs, local.queues["AuditQueue"]).start()
        rules_path.write_text(json.dumps({"faults": rules}))
        print(f"chaos: {args.orders} orders at concurrency {args.concurrency}, faults x{args.fault_scale}, "
              f"seed {args.seed}; stack ready in {stack.startup_seconds:.1f} s", flush=True)  # fmt: skip
        client = Client(stack.outputs["LocalApiUrl"], stack.outputs["ApiKey"], Caller.from_outputs(stack.outputs))
        work = plans(args.orders, list(initial), rng, run_id)
        placing_seconds = place_all(client, work, args.concurrency, lambda: _write_poison(local, *poison))
        rules_path.write_text(json.dumps({"faults": []}))  # faults off while the outbox drains and tables are read
        sweep_seconds = wait_for_sweep(local, poison)
        drain_outbox(local, audit, poison)
        counts_path = rules_path.with_name("faults.injected.json")
        faults = json.loads(counts_path.read_text()) if counts_path.exists() else {"byKind": {}, "byTarget": {}}
        snapshot = read_world(local, audit, client, initial, poison)
        idempotency = Counter(str(item.get("status")) for item in local.scan("IdempotencyTable"))
    violations, summary = check(snapshot)
    timing = {"placingSeconds": round(placing_seconds, 1), "ordersPerSecond": round(args.orders / placing_seconds, 2),
              "sweepSeconds": round(sweep_seconds, 1),
              "totalSeconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    report = build_report(args, env, timing, rules, faults, snapshot, summary, idempotency)
    report["violations"] = [violation.view() for violation in violations]
    report["requestsOfViolations"] = requests_of(violations, snapshot)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    _print_summary(report, args.report)
    return 1 if violations else 0


def requests_of(violations: list[Any], snapshot: Any) -> dict[str, list[dict[str, Any]]]:
    """Every request made with the Idempotency-Key of an order a violation names, in the order sent: what to read
    first when a violation is a race (the stack's state folder keeps the traces)."""
    keys = {str(item["orderId"]): item.get("idempotencyKey") for item in snapshot.orders}
    named = {order_id for violation in violations for order_id in violation.order_ids}
    return {
        order_id: [
            {
                "kind": r.kind,
                "status": r.status,
                "sent": r.sent,
                "answered": r.answered,
                "code": r.response.get("code") if isinstance(r.response, dict) else None,
                "orderId": r.response.get("orderId") if isinstance(r.response, dict) else None,
            }
            for r in snapshot.requests
            if r.key == keys.get(order_id)
        ]
        for order_id in sorted(named)
    }


def build_report(
    args: argparse.Namespace, env: dict[str, str], timing: dict[str, float], rules: list[dict[str, Any]],
    faults: dict[str, Any], snapshot: Snapshot, summary: dict[str, Any], idempotency: Counter[str],
) -> dict[str, Any]:  # fmt: skip
    """The report, but for its violations: the run, the faults, the requests, the checker's summary."""
    run_info = {
        "orders": args.orders, "concurrency": args.concurrency, "seed": args.seed, "faultScale": args.fault_scale,
        **timing,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": env | {"SAGA_LOCAL_FAULTS_FILE": "(written by the run)"},
    }  # fmt: skip
    return {
        "run": run_info, "faultsInjected": faults, "faultRules": rules,
        "requests": {
            "total": len(snapshot.requests),
            "byKind": dict(Counter(r.kind for r in snapshot.requests)),
            "byStatus": {str(k): v for k, v in sorted(Counter(r.status for r in snapshot.requests).items())},
        },
        **summary, "idempotencyRecords": dict(idempotency),
    }  # fmt: skip


def place_all(client: Client, work: list[Plan], concurrency: int, write_poison: Any) -> float:
    """Place every plan at `concurrency` clients; half-way, write the poison record. The seconds it took."""
    placing = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(lambda plan: place(client, plan), work):
            done += 1
            if done == len(work) // 2:  # among real orders' records: its batch-mates must still be published
                write_poison()
            if done % max(1, len(work) // 10) == 0:
                print(f"  {done}/{len(work)} orders answered ({time.perf_counter() - placing:.0f} s)", flush=True)
    return time.perf_counter() - placing


def unfinished(orders: list[dict[str, Any]], poison: set[str]) -> list[str]:
    """Orders the recovery sweep still has to finish: PENDING, or still in its index."""
    return [
        o["orderId"] for o in orders
        if o["orderId"].startswith(ORDER_PREFIX) and o["orderId"] not in poison
        and (o["status"] == "PENDING" or "sweep" in o)
    ]  # fmt: skip


def wait_for_sweep(local: Local, poison: set[str]) -> float:
    """After the load: wait (up to SWEEP_WINDOW_SECONDS) for the sweep to finish every order. The seconds it took;
    what is left unfinished then is reported by the checker (order_unfinished, saga_not_terminal)."""
    started = time.monotonic()
    while time.monotonic() - started < SWEEP_WINDOW_SECONDS:
        left = unfinished(local.scan("OrdersTable"), poison)
        if not left:
            break
        print(f"  sweep: {len(left)} order(s) not finished yet ({time.monotonic() - started:.0f} s)", flush=True)
        time.sleep(5)
    return time.monotonic() - started


def drain_outbox(local: Local, audit: AuditReader, poison: set[str]) -> None:
    """Wait until every event the orders owe is on the audit queue and nothing came for QUIET_SECONDS."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        owed = expected_events(local.scan("OrdersTable"), poison)
        seen = {event.deduplication_id for event in audit.events}
        if owed <= seen and time.monotonic() - audit.last_received > QUIET_SECONDS:
            break
        time.sleep(1)
    audit.stop()


def read_world(local: Local, audit: AuditReader, client: Client, initial: dict[str, int], poison: set[str]) -> Snapshot:
    relay_dlq = _wait_for(lambda: drain_queue(local.sqs, local.queues["OutboxRelayDLQ"]), 60)
    stream = read_stream(local)
    return Snapshot(
        initial_stock=initial,
        orders=local.scan("OrdersTable"),
        inventory=local.scan("InventoryTable"),
        payments=local.scan("PaymentsTable"),
        billing=local.scan("BillingTable"),
        events=list(audit.events),
        requests=list(client.requests),
        relay_dlq=relay_dlq,
        audit_dlq=drain_queue(local.sqs, local.queues["AuditDLQ"]),
        poison_sequence_numbers={record.sequence_number for record in stream if record.order_id in poison},
        poison_order_ids=poison,
        stream=stream,
    )


def _seed(path: Path, state_dir: Path) -> None:
    import subprocess

    env = {**os.environ, "SAGA_LOCAL_STATE_DIR": str(state_dir)}
    command = [sys.executable, "-m", "saga_local", "seed", str(path)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603 - our own CLI


def _write_poison(local: Local, order_id: str) -> None:
    """An order item whose document is not an order view: the relay cannot make an event of it."""
    local.dynamodb.Table(local.tables["OrdersTable"]).put_item(
        Item={"orderId": order_id, "status": "PENDING", "updatedAt": "2026-01-01T00:00:00.000Z",
              "requestHash": "poison", "version": 1, "document": "{not json"}
    )  # fmt: skip


def _wait_for(read: Any, timeout: float) -> list[DeadLetter]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read()
        if found:
            return list(found)
        time.sleep(0.5)
    return []


def read_stream(local: Local) -> list[StreamRecord]:
    """The orders table's stream from its start (moto keeps a stream's records; one shard): to say which
    order change a DLQ message names, and whether its event was published."""
    streams = local.client("dynamodbstreams")
    table = local.tables["OrdersTable"]
    arn = next(s["StreamArn"] for s in streams.list_streams()["Streams"] if s["TableName"] == table)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    found: list[StreamRecord] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page["Records"]:
            change = record["dynamodb"]
            new, old = change.get("NewImage") or {}, change.get("OldImage") or {}
            found.append(StreamRecord(
                change["SequenceNumber"], change["Keys"]["orderId"]["S"], record["eventName"],
                (new.get("status") or {}).get("S"), (old.get("status") or {}).get("S"),
            ))  # fmt: skip
        if not page["Records"]:
            break
        iterator = page.get("NextShardIterator")
    return found


def _print_summary(report: dict[str, Any], path: str) -> None:
    run_info = report["run"]
    print(f"\n{run_info['orders']} orders at concurrency {run_info['concurrency']}: {run_info['placingSeconds']} s "
          f"({run_info['ordersPerSecond']} orders/s), every order final {run_info['sweepSeconds']} s after the load; "
          f"{report['requests']['total']} requests "
          f"{report['requests']['byStatus']}")  # fmt: skip
    print(f"faults injected: {report['faultsInjected'].get('byKind')}")
    print(f"outcomes: {report['outcomes']}")
    print(f"events: {report['events']}; DLQs: {report['dlq']}")
    for number, entry in enumerate(report["deadLetters"], 1):
        print(f"  {_dead_letter_line(number, entry)}")
    relay_faults = {
        k: v for k, v in report["faultsInjected"].get("byTarget", {}).items() if k.startswith("OutboxRelay")
    }
    if any(entry.get("copies", 1) > 1 for entry in report["deadLetters"]):
        print(f"  (what runs a relay batch again, injected this run: {relay_faults})")
    for failure in report["compensationFailures"]:
        print(f"COMPENSATION_FAILED {failure['orderId']}: {failure['failedCompensations']}")
    print(f"violations: {len(report['violations'])}")
    for violation in report["violations"][:50]:
        print(f"  {violation['kind']}: {violation['detail']} {violation['orderIds'][:5]}")
    print(f"report: {path}")


def _dead_letter_line(number: int, entry: dict[str, Any]) -> str:
    """One DLQ message: which queue, who put it there and why, what it names."""
    if entry["queue"] == "audit":
        published = "also received from the audit queue" if entry["alsoOnAuditQueue"] else "NOT on the audit queue"
        return f"audit DLQ #{number}: {entry['type']} {entry['event']}, {entry['reason']}; {published}"
    records = ", ".join(_record_words(record) for record in entry["records"])
    return (
        f"relay DLQ #{number}, sent by the {entry['sentBy']} ({entry['reason']}): {entry['explanation']}."
        f" Records: {records}"
    )


def _record_words(record: dict[str, Any]) -> str:
    if not record["inStream"]:
        return f"{record['sequenceNumber']} (not in the stream)"
    words = f"{record['sequenceNumber']} {record['eventName']} {record['orderId']} {record['status']}"
    if record["poison"]:
        return f"{words} (poison on purpose)"
    if record.get("event") is None:
        return f"{words} (makes no event)"
    return f"{words}, event {record['event']} {'published' if record['eventPublished'] else 'NOT PUBLISHED'}"


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=positive, default=2000, help="orders to place (default 2000)")
    parser.add_argument("--concurrency", type=positive, default=8, help="clients at once (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the order mix (faults are random)")
    parser.add_argument("--fault-scale", type=float, default=1.0, help="multiplies every fault rate (default 1)")
    parser.add_argument("--report", default=str(REPORT), help=f"where to write the report (default {REPORT})")
    args = parser.parse_args(argv)
    if not 0 <= args.fault_scale <= 20:
        parser.error("--fault-scale: must be from 0 to 20")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
