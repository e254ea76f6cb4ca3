"""saga_common.settings (each function's settings, read once, every one required) and saga_common.entry (the one
entry decorator of every handler)."""

import importlib
from dataclasses import FrozenInstanceError, dataclass
from typing import Any

import pytest
from saga_common import idempotency, settings
from saga_common.entry import lambda_entry
from saga_common.errors import ConfigurationError
from saga_common.settings import FunctionSettings, load

from tests.support.paths import ROOT


@dataclass(frozen=True)
class ExampleSettings(FunctionSettings):
    orders_table: str
    sweep_batch: int


@pytest.fixture(autouse=True)
def _forget_settings() -> Any:
    settings.reset()
    idempotency.reset()
    yield
    settings.reset()
    idempotency.reset()


def test_each_field_is_read_from_its_upper_cased_variable_and_converted() -> None:
    read = ExampleSettings.from_environment({"ORDERS_TABLE": "orders", "SWEEP_BATCH": "100"})

    assert read == ExampleSettings(orders_table="orders", sweep_batch=100)
    with pytest.raises(FrozenInstanceError):
        read.sweep_batch = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SWEEP_BATCH": "100"}, "ORDERS_TABLE is not set"),
        ({"ORDERS_TABLE": " ", "SWEEP_BATCH": "100"}, "ORDERS_TABLE is not set"),
        ({"ORDERS_TABLE": "orders", "SWEEP_BATCH": "a hundred"}, "SWEEP_BATCH must be a whole number, got 'a hundred'"),
        ({"ORDERS_TABLE": "orders", "SWEEP_BATCH": "-1"}, "SWEEP_BATCH must not be negative"),
    ],
)
def test_a_missing_or_malformed_variable_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ExampleSettings.from_environment(environ)


def test_settings_are_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_TABLE", "first")
    monkeypatch.setenv("SWEEP_BATCH", "1")
    first = load(ExampleSettings)
    monkeypatch.setenv("ORDERS_TABLE", "second")

    assert load(ExampleSettings) is first
    settings.reset()
    assert load(ExampleSettings).orders_table == "second"


def test_every_function_reads_its_settings_from_the_template_environment() -> None:
    """tests/conftest.py sets what template.yaml's Environment sets: each function's settings load from it."""
    loaded = []
    for path in sorted((ROOT / "functions").glob("*/*/settings.py")):
        if path.parent.name == "saga_common":
            continue  # the layer's: how settings are read
        module = importlib.import_module(f"{path.parent.name}.settings")
        loaded.append(module.settings())
    assert len(loaded) >= 5
    assert all(isinstance(each, FunctionSettings) for each in loaded)


def test_the_entry_hands_the_handler_its_settings_and_passes_keywords_and_exceptions_through(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    monkeypatch.setenv("ORDERS_TABLE", "orders")
    monkeypatch.setenv("SWEEP_BATCH", "7")
    seen: list[tuple[Any, ...]] = []

    @lambda_entry(ExampleSettings)
    def handler(event: dict[str, Any], context: Any, config: ExampleSettings, *, extra: str = "") -> int:
        seen.append((event, config, extra))
        if event.get("fail"):
            raise KeyError("the class name reaches Step Functions")
        return config.sweep_batch

    assert handler({"a": 1}, lambda_context, extra="x") == 7
    assert seen == [({"a": 1}, ExampleSettings("orders", 7), "x")]
    with pytest.raises(KeyError):
        handler({"fail": True}, lambda_context)


def test_a_missing_setting_fails_before_the_handler_runs(monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> None:
    monkeypatch.delenv("ORDERS_TABLE", raising=False)
    monkeypatch.setenv("SWEEP_BATCH", "7")
    ran = []

    @lambda_entry(ExampleSettings)
    def handler(event: dict[str, Any], context: Any, config: ExampleSettings) -> None:
        ran.append(event)

    with pytest.raises(ConfigurationError, match="ORDERS_TABLE"):
        handler({}, lambda_context)
    assert ran == []


def test_in_a_lambda_execution_environment_a_missing_setting_fails_the_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_HANDLER", "example.handler.lambda_handler")  # Lambda sets it in every execution environment
    monkeypatch.delenv("ORDERS_TABLE", raising=False)

    with pytest.raises(ConfigurationError, match="ORDERS_TABLE"):

        @lambda_entry(ExampleSettings)
        def handler(event: dict[str, Any], context: Any, config: ExampleSettings) -> None:
            """Never decorated: importing its module fails."""
