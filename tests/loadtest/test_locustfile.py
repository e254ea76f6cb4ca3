"""The load test's own logic, without Locust running: where it points, what it sends, how it judges."""

import json
import random
from pathlib import Path

import jsonschema
import pytest
import yaml

from loadtest import run
from loadtest.outcomes import DEFAULT_CATALOG, Catalog, classify, judge, judge_replay, new_request
from loadtest.settings import (
    DEFAULT_MIX,
    ConfigError,
    Thresholds,
    parse_mix,
    percentile,
    resolve_target,
)
from tests.support.paths import ROOT

CONFIRMED = {"orderId": "ord_1", "status": "CONFIRMED", "total": 2499}
OUT_OF_STOCK = {"status": 409, "code": "OUT_OF_STOCK", "orderId": "ord_2", "detail": "SKU-7: requested 3, available 2"}
DECLINED = {"status": 402, "code": "PAYMENT_DECLINED", "orderId": "ord_3"}


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"LocalApiUrl": "http://127.0.0.1:3000/dev", "ApiKey": "file-key"}))
    return path


# --- where it points: command line, then environment, then the local stack's outputs ---


def test_the_local_outputs_file_is_the_fallback(outputs: Path) -> None:
    target = resolve_target(None, None, {}, outputs)
    assert (target.url, target.api_key) == ("http://127.0.0.1:3000/dev", "file-key")
    assert "LocalApiUrl" in target.url_source


def test_the_environment_beats_the_outputs_file(outputs: Path) -> None:
    env = {"ORDER_API_URL": "https://abc.execute-api.eu-west-1.amazonaws.com/prod/", "ORDER_API_KEY": "env-key"}
    target = resolve_target(None, None, env, outputs)
    assert (target.url, target.api_key) == ("https://abc.execute-api.eu-west-1.amazonaws.com/prod", "env-key")
    assert (target.url_source, target.key_source) == ("ORDER_API_URL", "ORDER_API_KEY")


def test_the_command_line_beats_the_environment(outputs: Path) -> None:
    env = {"ORDER_API_URL": "https://env.example/dev", "ORDER_API_KEY": "env-key"}
    target = resolve_target("https://cli.example/dev", "cli-key", env, outputs)
    assert (target.url, target.api_key, target.url_source, target.key_source) == (
        "https://cli.example/dev", "cli-key", "--host", "--api-key",
    )  # fmt: skip


def test_each_of_url_and_key_is_resolved_on_its_own(outputs: Path) -> None:
    target = resolve_target("https://cli.example/dev", None, {}, outputs)
    assert (target.url, target.api_key) == ("https://cli.example/dev", "file-key")


def test_nothing_to_point_at_names_every_way_to_say_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no API URL: pass --host, set ORDER_API_URL, or start the local stack"):
        resolve_target(None, None, {}, tmp_path / "missing.json")
    with pytest.raises(ConfigError, match=r"no API key: pass --api-key, set ORDER_API_KEY"):
        resolve_target("https://cli.example/dev", None, {}, tmp_path / "missing.json")


def test_a_broken_outputs_file_or_url_is_named(tmp_path: Path, outputs: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"broken.json: not readable as JSON"):
        resolve_target(None, None, {}, broken)
    with pytest.raises(ConfigError, match=r"API URL from ORDER_API_URL must be http\(s\)"):
        resolve_target(None, None, {"ORDER_API_URL": "127.0.0.1:3000/dev"}, outputs)


# --- the mix and the thresholds ---


def test_the_default_mix_is_mostly_confirmed_orders() -> None:
    weights = parse_mix(DEFAULT_MIX)
    assert weights == {"confirmed": 80, "out_of_stock": 8, "declined": 7, "replayed": 5}
    assert parse_mix("declined=1") == {"confirmed": 0, "out_of_stock": 0, "declined": 1, "replayed": 0}


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ("confirmed=80,refunded=5", r"'refunded=5' is not <scenario>=<weight>"),
        ("confirmed", r"'confirmed' is not <scenario>=<weight>"),
        ("confirmed=lots", r"the weight of confirmed must be a number, got 'lots'"),
        ("declined=-1", r"the weight of declined must be zero or more"),
        ("confirmed=0", r"at least one scenario needs a positive weight"),
    ],
)
def test_a_bad_mix_is_refused_with_the_part_named(mix: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^--mix: " + message):
        parse_mix(mix)


def test_thresholds_report_every_miss() -> None:
    thresholds = Thresholds(p95_ms=5000, max_error_rate=0.01, min_rps=0.8)
    assert thresholds.violations(p95_ms=4999, error_rate=0.01, rps=0.8, requests=10) == []
    assert thresholds.violations(p95_ms=5001, error_rate=0.02, rps=0.5, requests=10) == [
        "p95 5001 ms > 5000 ms (--p95-ms)",
        "error rate 2.00% > 1.00% (--max-error-rate)",
        "0.50 requests/s < 0.8 (--min-rps)",
    ]
    assert Thresholds(None, None, None).violations(99999, 1.0, 0.0, requests=1) == []
    assert Thresholds(None, None, None).violations(0, 0, 0, requests=0) == ["no request completed"]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(ms) for ms in range(1, 101)]  # 1..100 ms
    assert [percentile(values, share) for share in (0.5, 0.95, 0.99, 1.0)] == [50, 95, 99, 100]
    assert percentile([7.0], 0.99) == 7
    assert percentile([], 0.5) == 0


# --- what it sends ---


def test_orders_come_from_the_seeded_catalog() -> None:
    catalog = Catalog.load(DEFAULT_CATALOG)
    seed = {item["sku"]: item["stock"] for item in json.loads(DEFAULT_CATALOG.read_text())}
    assert catalog.plenty
    assert all(seed[sku] >= 50 for sku in catalog.plenty)
    assert catalog.over_stock == min(seed.values()) + 1
    assert seed[catalog.scarce_sku] == min(seed.values())


def test_each_scenario_sends_a_valid_order_of_its_kind() -> None:
    spec = yaml.safe_load((ROOT / "api" / "openapi.yaml").read_text())
    schema = spec["components"]["schemas"]["OrderRequest"]
    catalog, rng = Catalog.load(DEFAULT_CATALOG), random.Random(1)
    requests = {scenario: new_request(scenario, catalog, rng) for scenario in ("confirmed", "out_of_stock", "declined")}
    for request in requests.values():
        jsonschema.validate(request.body, schema)
        assert 8 <= len(request.idempotency_key) <= 128
    assert requests["confirmed"].body["payment"] == {"token": "tok_visa"}
    assert requests["confirmed"].body["items"][0]["quantity"] == 1
    assert requests["confirmed"].body["items"][0]["sku"] in catalog.plenty
    assert requests["out_of_stock"].body["items"] == [{"sku": catalog.scarce_sku, "quantity": catalog.over_stock}]
    assert requests["declined"].body["payment"] == {"token": "tok_chargeDeclined"}
    assert len({request.idempotency_key for request in requests.values()}) == 3


def test_a_catalog_where_nothing_can_run_out_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([{"sku": "SKU-1", "stock": 500}]))
    with pytest.raises(ConfigError, match=r"every SKU has 100 or more units"):
        Catalog.load(path)
    path.write_text(json.dumps([{"sku": "SKU-1"}]))
    with pytest.raises(ConfigError, match=r"not a list of \{sku, stock\} items"):
        Catalog.load(path)


# --- how it judges ---


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (201, CONFIRMED, "confirmed"),
        (409, OUT_OF_STOCK, "out_of_stock"),
        (402, DECLINED, "declined"),
        (201, {**CONFIRMED, "status": "PENDING"}, "unexpected"),
        (409, {"code": "IDEMPOTENCY_KEY_REUSED"}, "unexpected"),
        (422, {"code": "OUT_OF_STOCK"}, "unexpected"),
        (503, {"code": "SERVICE_UNAVAILABLE"}, "unexpected"),
        (502, "<html>Bad gateway</html>", "unexpected"),
    ],
)
def test_responses_are_classified_by_status_and_code(status: int, body: object, outcome: str) -> None:
    assert classify(status, body) == outcome


def test_an_outcome_other_than_the_scenarios_is_unexpected_and_says_why() -> None:
    assert judge("out_of_stock", 409, OUT_OF_STOCK).problem is None
    judged = judge("confirmed", 409, OUT_OF_STOCK)
    assert judged.outcome == "unexpected"
    assert judged.problem == "expected confirmed (201), got 409 OUT_OF_STOCK"
    assert judge("declined", 503, {"code": "SERVICE_UNAVAILABLE"}).problem == (
        "expected declined (402 PAYMENT_DECLINED), got 503 SERVICE_UNAVAILABLE"
    )


def test_a_replay_must_answer_exactly_what_the_original_did() -> None:
    assert judge_replay(201, CONFIRMED, 201, dict(CONFIRMED)).outcome == "replayed"
    assert judge_replay(409, OUT_OF_STOCK, 409, dict(OUT_OF_STOCK)).outcome == "replayed"
    other_order = judge_replay(201, CONFIRMED, 201, {**CONFIRMED, "orderId": "ord_9"})
    assert (other_order.outcome, other_order.problem) == (
        "unexpected", "replay body differs from the original's in orderId",
    )  # fmt: skip
    reused = judge_replay(201, CONFIRMED, 422, {"code": "IDEMPOTENCY_KEY_REUSED"})
    assert reused.problem == "replay answered 422 IDEMPOTENCY_KEY_REUSED, the original 201"


# --- make loadtest's wrapper ---


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--rate", "0"], "--rate (RATE) must be a positive number"), (["--duration", "1 min"], "--duration (DURATION)")],
)
def test_the_wrapper_refuses_a_bad_rate_or_duration(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_wrapper_runs_locust_headless_with_one_scheduler_user_and_reports(tmp_path: Path) -> None:
    command = run.locust_command("2.5", "90s", tmp_path, ["--mix", "confirmed=1"])
    assert command[command.index("-u") + 1] == "1"
    assert command[command.index("--run-time") + 1] == "90s"
    assert command[command.index("--rate") + 1] == "2.5"
    assert command[command.index("--csv") + 1] == str(tmp_path / "orders")
    assert command[command.index("--html") + 1] == str(tmp_path / "orders.html")
    assert "--headless" in command
    assert command[-2:] == ["--mix", "confirmed=1"]
