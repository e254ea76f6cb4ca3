"""The recovery sweep's decisions, without a stack: which orders it starts the saga for, when, with what, how often,
and what it leaves alone. The order records are written as the state machine writes them; the executions it starts
are read back from (moto's) Step Functions."""

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from recovery_sweep import handler, repository, service
from recovery_sweep.errors import SweptMeanwhile
from recovery_sweep.model import FLAGGED, OPEN, Recovery, SweepPolicy
from saga_common.clock import iso
from saga_common.observability import metrics

from saga_local.cloudformation import template as cfn
from tests.support.paths import ROOT
from tests.support.sweep import CALLER, NOW, REQUEST, Sweepable, mentions, refuse

WINDOW = 60
SETTINGS = SweepPolicy(stuck_after_seconds=WINDOW, retry_limit=3, backoff_seconds=60)


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics read POWERTOOLS_METRICS_NAMESPACE when saga_common is imported: before conftest sets it."""
    monkeypatch.setattr(metrics.provider, "namespace", "OrderSaga")
    metrics.clear_metrics()  # what earlier tests' sweeps added without a handler to flush it


def sweep(at_seconds: float = 0, limit: int = 100) -> service.SweepReport:
    """One run of the sweep, `at_seconds` after NOW."""
    return service.sweep(SETTINGS, now=NOW + timedelta(seconds=at_seconds), limit=limit)


def emitted_metrics(output: str) -> dict[str, Any]:
    """Metric name -> value from the CloudWatch EMF documents printed on stdout."""
    found: dict[str, Any] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == "OrderSaga"
                found |= {metric["Name"]: document[metric["Name"]] for metric in directive["Metrics"]}
    return found


# ---------------------------------------------------------------- which orders are due
def test_an_order_is_swept_only_once_it_is_older_than_the_window(sweepable: Sweepable) -> None:
    fresh = sweepable.put_order("key-fresh-0001", age=WINDOW - 1)  # its execution may still be running
    at_the_window = sweepable.put_order("key-window-0001", age=WINDOW)
    stuck = sweepable.put_order("key-stuck-0001", age=WINDOW + 1)

    report = sweep()

    assert sorted(report.started) == sorted([at_the_window, stuck])
    assert sorted(e["input"]["idempotencyKey"] for e in sweepable.executions()) == ["key-stuck-0001",
                                                                                    "key-window-0001"]  # fmt: skip
    assert "recoveryAttempts" not in sweepable.order(fresh)
    assert sweepable.order(fresh)["sweepAt"] == iso(NOW - timedelta(seconds=WINDOW - 1))  # untouched


def test_a_flagged_a_resolved_or_a_finished_order_is_never_started(sweepable: Sweepable) -> None:
    sweepable.put_order("key-flagged-01", status="COMPENSATION_FAILED", sweep=FLAGGED, attempts=3)
    sweepable.put_order("key-resolved-1", status="COMPENSATION_FAILED", sweep=None, saved=False)  # out of the index
    sweepable.put_order("key-confirmed1", status="CONFIRMED", sweep=None, saved=False)

    for minutes in (0, 10, 60 * 24):
        report = sweep(60 * minutes)
        assert (report.started, report.flagged, report.skipped) == ([], [], [])

    assert sweepable.executions() == []
    assert [op for op in sweepable.operations("dynamodb") if op != "dynamodb.Query"] == []  # read, never written


def test_the_due_orders_are_queried_on_the_index_following_its_pages(sweepable: Sweepable) -> None:
    ids = [sweepable.put_order(f"key-paged-{n:04d}", age=WINDOW + 100 - n) for n in range(5)]  # ids[0] the oldest

    def pages_of_two(params: dict[str, Any], **_: Any) -> None:  # DynamoDB ends a page at 1 MB, before Limit
        params["Limit"] = min(params["Limit"], 2)

    sweepable.on("before-parameter-build.dynamodb.Query", pages_of_two)

    report = sweep()

    assert report.started == ids  # every page read, oldest first
    queries = [params for operation, params in sweepable.calls if operation == "dynamodb.Query"]
    assert len(queries) == 3
    assert all(query["IndexName"] == "Sweep" for query in queries)
    assert "dynamodb.Scan" not in sweepable.operations("dynamodb")
    resumed_after = [query.get("ExclusiveStartKey", {}).get("orderId", {}).get("S") for query in queries]
    assert resumed_after == [None, ids[1], ids[3]]  # each page where the last one ended


def test_a_run_takes_at_most_its_batch_the_oldest_first_and_the_next_run_the_rest(sweepable: Sweepable) -> None:
    ids = [sweepable.put_order(f"key-batch-{n:04d}", age=WINDOW + 100 - n) for n in range(5)]

    first = sweep(limit=3)
    second = sweep(1, limit=3)

    assert first.started == ids[:3]
    assert second.started == ids[3:]
    assert len(sweepable.executions()) == 5


# ---------------------------------------------------------------- what it starts
def test_the_execution_is_the_apis_input_for_the_stored_request_plus_recovery(sweepable: Sweepable) -> None:
    order_id = sweepable.put_order("key-input-0001")

    sweep()

    [execution] = sweepable.executions()
    assert execution["input"] == {
        "idempotencyKey": "key-input-0001",
        "caller": CALLER,  # the order's owner, as the API gave it: the saga resumes the order as theirs
        "requestId": "recovery-sweep-1",
        "request": REQUEST,
        # The order to resume (its id is random: the key does not name it); no key is claimed, no order created.
        "recovery": {"orderId": order_id, "attempt": 1, "reason": "PENDING", "sweptAt": iso(NOW)},
    }
    # The request is re-serialised as the state machine stored it, keys in order: its hash matches the order's.
    stored = sweepable.order(order_id)
    assert json.dumps(execution["input"]["request"], separators=(",", ":")) == stored["savedRequest"]
    # Named after the order and the attempt, within Step Functions' rules; found again from what the order records.
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", execution["name"])
    assert execution["name"].startswith(f"recovery-{order_id.removeprefix('ord_')[:40]}-1-")
    again = Recovery(order_id, "key-input-0001", REQUEST, int(stored["recoveryAttempts"]), "PENDING",
                     str(stored["lastRecoveryAt"]), caller=CALLER)  # fmt: skip
    assert (again.execution_name, json.loads(again.execution_input())) == (execution["name"], execution["input"])


def test_the_input_has_the_keys_the_api_gives_the_state_machine_and_the_recovery_route(sweepable: Sweepable) -> None:
    """The API's mapping template and the ASL are read from the project: a key renamed there fails here."""
    openapi = cfn.load(ROOT / "api" / "openapi.yaml")
    post = openapi["paths"]["/orders"]["post"]["x-amazon-apigateway-integration"]
    mapping = post["requestTemplates"]["application/json"]["Fn::Sub"]
    api_keys = set(re.findall(r'\\"(\w+)\\": ', mapping))
    asl = (ROOT / "statemachine" / "order_saga.asl.json").read_text()
    sweepable.put_order("key-keys-00001", status="COMPENSATION_FAILED")

    sweep()

    [execution] = sweepable.executions()
    assert api_keys == {"idempotencyKey", "caller", "requestId", "request"}
    assert set(execution["input"]) == api_keys | {"recovery"}
    assert '"Variable": "$.recovery"' in asl  # RouteByOrderStatus sends a COMPENSATION_FAILED order to its retry
    assert execution["input"]["recovery"]["reason"] == "COMPENSATION_FAILED"


def test_the_claim_records_the_attempt_and_backs_off_the_next_one(sweepable: Sweepable) -> None:
    order_id = sweepable.put_order("key-claim-0001", status="COMPENSATION_FAILED", attempts=1)

    sweep()

    stored = sweepable.order(order_id)
    assert stored["recoveryAttempts"] == 2
    assert stored["lastRecoveryAt"] == iso(NOW)
    assert stored["sweepAt"] == iso(NOW + timedelta(seconds=120))  # backoff 60 s x 2^(2-1)
    assert (stored["sweep"], stored["status"]) == (OPEN, "COMPENSATION_FAILED")


# ---------------------------------------------------------------- once, and only once
def test_a_rerun_of_the_sweep_starts_no_second_execution_for_an_attempt(sweepable: Sweepable) -> None:
    order_id = sweepable.put_order("key-rerun-0001")

    reports = [sweep(), sweep(), sweep(WINDOW + 59)]  # the same moment again, then just before the backoff ends

    assert [report.started for report in reports] == [[order_id], [], []]
    assert len(sweepable.executions()) == 1


def test_of_two_sweeps_that_read_the_same_order_only_one_starts_it(sweepable: Sweepable) -> None:
    order_id = sweepable.put_order("key-twice-0001")
    [seen_by_both] = repository.due(OPEN, iso(NOW - timedelta(seconds=WINDOW)), 10)

    assert sweep().started == [order_id]
    with pytest.raises(SweptMeanwhile):
        service.recover(seen_by_both, SETTINGS, NOW, service.SweepReport())

    assert len(sweepable.executions()) == 1
    assert sweepable.order(order_id)["recoveryAttempts"] == 1


@pytest.mark.parametrize("after", ["Query", "GetItem"])
def test_an_order_that_finished_after_it_was_read_is_left_alone(sweepable: Sweepable, after: str) -> None:
    """Its own saga (or a client's replay) confirmed it after the sweep's query, or after its read of the request."""
    order_id = sweepable.put_order("key-finish-001")
    confirmed: dict[str, Any] = {}

    def confirm(**_: Any) -> None:
        if not confirmed:  # ConfirmOrder: CONFIRMED, and out of the index
            sweepable.orders.update_item(
                Key={"orderId": order_id}, UpdateExpression="SET #s = :c ADD version :one REMOVE sweep, sweepAt, "
                "savedRequest", ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": "CONFIRMED", ":one": 1},
            )  # fmt: skip
            confirmed.update(sweepable.order(order_id))

    sweepable.on(f"after-call.dynamodb.{after}", confirm)

    report = sweep()

    assert (report.started, report.skipped) == ([], [order_id])
    assert sweepable.executions() == []
    assert sweepable.order(order_id) == confirmed  # not written by the sweep


# ---------------------------------------------------------------- retries, the limit, the alarm
def test_a_compensation_failed_order_is_retried_with_backoff_then_flagged(sweepable: Sweepable) -> None:
    order_id = sweepable.put_order("key-backoff-01", status="COMPENSATION_FAILED", age=WINDOW)
    # Attempt n is due WINDOW + 60 x 2^(n-1) s after attempt n-1: at 0, 120, 300 s; then the limit (3) is reached.
    timeline = {0: "started", 119: None, 120: "started", 299: None, 300: "started", 599: None, 600: "flagged"}

    outcomes = {}
    for at, _ in timeline.items():
        report = sweep(at)
        outcomes[at] = "started" if report.started else "flagged" if report.flagged else None

    assert outcomes == timeline
    assert [e["input"]["recovery"] for e in sweepable.executions()] == [
        {
            "orderId": order_id,
            "attempt": n,
            "reason": "COMPENSATION_FAILED",
            "sweptAt": iso(NOW + timedelta(seconds=at)),
        }
        for n, at in ((1, 0), (2, 120), (3, 300))
    ]
    flagged = sweepable.order(order_id)
    assert (flagged["sweep"], flagged["status"], flagged["recoveryAttempts"]) == (FLAGGED, "COMPENSATION_FAILED", 3)
    assert flagged["lastRecoveryAt"] == iso(NOW + timedelta(seconds=600))
    # Flagged: out of the sweep for good, however long it waits.
    assert sweep(600 + 86_400).started == []
    assert len(sweepable.executions()) == 3


def test_the_handler_flags_an_order_past_the_limit_with_the_alarms_metric(
    sweepable: Sweepable, lambda_context: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETRY_LIMIT", "5")
    exhausted = sweepable.put_order("key-limit-0001", status="COMPENSATION_FAILED", attempts=5)
    nothing_to_replay = sweepable.put_order("key-nosaved-01", saved=False)  # written before the sweep existed
    retried = sweepable.put_order("key-retry-0001", status="COMPENSATION_FAILED", attempts=4)

    ownerless = sweepable.put_order("key-nocaller-1")  # stored before callers were recorded: whose order to resume?
    sweepable.orders.update_item(Key={"orderId": ownerless}, UpdateExpression="REMOVE caller")

    answer = handler.lambda_handler({}, lambda_context)

    assert sorted(answer["flagged"]) == sorted([exhausted, nothing_to_replay, ownerless])
    assert answer["started"] == [retried]
    assert sweepable.order(exhausted)["sweep"] == FLAGGED
    assert sweepable.order(nothing_to_replay)["sweep"] == FLAGGED
    assert sweepable.order(ownerless)["sweep"] == FLAGGED  # an operator decides; the sweep never guesses an owner
    assert emitted_metrics(capsys.readouterr().out) == {"RecoveriesStarted": [1.0], "RecoveryExhausted": [3.0]}
    alarm = cfn.load()["Resources"]["RecoveryExhaustedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("OrderSaga", "RecoveryExhausted")


# ---------------------------------------------------------------- failures
def test_a_failure_to_start_one_execution_does_not_stop_the_others(sweepable: Sweepable) -> None:
    ids = [sweepable.put_order(f"key-fail-{n:05d}", age=WINDOW + 100 - n) for n in range(3)]
    refused = refuse("ExecutionLimitExceeded")

    def refuse_the_first(params: dict[str, Any], **kwargs: Any) -> Any:
        return refused(**kwargs) if mentions(params, ids[0].removeprefix("ord_")[:40]) else None

    sweepable.on("before-call.sfn.StartExecution", refuse_the_first)

    report = sweep()

    assert (report.started, report.failed) == (ids[1:], ids[:1])
    assert sorted(e["input"]["idempotencyKey"] for e in sweepable.executions()) == ["key-fail-00001", "key-fail-00002"]
    # Its attempt was claimed: it is due again after its backoff, not before.
    sweepable.off("before-call.sfn.StartExecution", refuse_the_first)
    assert sweep(WINDOW + 59).started == []
    assert sorted(sweep(WINDOW + 60).started) == sorted(ids)  # the two started are due again too: attempt 2 for all
    refused_order = [e["input"]["recovery"]["attempt"] for e in sweepable.executions()
                     if e["input"]["idempotencyKey"] == "key-fail-00000"]  # fmt: skip
    assert refused_order == [2]


def test_a_throttled_claim_skips_that_order_only(sweepable: Sweepable) -> None:
    ids = [sweepable.put_order(f"key-thrt-{n:05d}", age=WINDOW + 100 - n) for n in range(2)]
    throttled = refuse("ThrottlingException")

    def throttle_the_first_claim(params: dict[str, Any], **kwargs: Any) -> Any:
        return throttled(**kwargs) if mentions(params, ids[0]) else None

    sweepable.on("before-call.dynamodb.UpdateItem", throttle_the_first_claim)

    report = sweep()

    assert (report.started, report.failed) == ([ids[1]], [ids[0]])
    assert "recoveryAttempts" not in sweepable.order(ids[0])  # nothing taken: due at the next run
