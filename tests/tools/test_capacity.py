"""The capacity model (saga_ops/capacity.py): its figures follow from the measured report, and prod is sized by it."""

import json
import math
from pathlib import Path
from typing import Any

import pytest

from saga_local.cloudformation.template import TEMPLATE_PATH, load
from saga_ops import capacity
from saga_ops.capacity import ConfigError, load_environment, load_per_order, model
from tests.support import template as template_lists

ACCOUNT_QUOTA = 1000  # Lambda's default concurrency quota


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


def test_prod_reserves_what_the_model_needs_at_its_rate_and_fits_a_default_account(template: dict[str, Any]) -> None:
    prod = load_environment("prod", template=template)
    result = model(prod, load_per_order(), template)

    reserved = capacity.reservations(prod, template)
    assert set(reserved) == set(template_lists.reserving_concurrency())
    for need in result.functions:
        if need.function in reserved:
            assert reserved[need.function] >= need.needed, need
    assert reserved["PaymentsFunction"] >= result.recommended["FunctionConcurrencyLimit"]
    assert ACCOUNT_QUOTA - sum(reserved.values()) >= capacity.UNRESERVED_MINIMUM


def test_function_needs_are_rate_times_measured_duration_times_headroom(template: dict[str, Any]) -> None:
    report = json.loads(capacity.COST_REPORT.read_text())["paths"]["confirmed"]["per_order"]
    result = model(load_environment("prod", template=template), load_per_order(), template, rate=250)

    needs = {n.function: n.needed for n in result.functions}
    expected = {fn: math.ceil(250 * ms / 1000 * capacity.HEADROOM) for fn, ms in report["lambda_billed_ms"].items()}
    assert needs == expected


def test_a_flash_sale_on_one_sku_binds_first_at_the_partition_limit(template: dict[str, Any]) -> None:
    per_order = load_per_order()
    result = model(load_environment("prod", template=template), per_order, template)

    assert per_order.hot_item_wcu == 2  # one stock item in a transaction: 2 write units
    assert result.binding.name.startswith("DynamoDB hot item")
    assert result.binding.max_orders_per_second == 1000 / per_order.hot_item_wcu


def test_render_names_the_inputs_and_what_binds(template: dict[str, Any]) -> None:
    per_order = load_per_order()
    text = capacity.render(model(load_environment("prod", template=template), per_order, template))

    assert f"measured on {per_order.measured_on}" in text  # the date of reports/cost.json's run
    assert "Binds first: DynamoDB hot item" in text
    assert "Recommended: FunctionConcurrencyLimit=" in text


def test_bad_input_names_the_field(tmp_path: Path, template: dict[str, Any]) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text('version = 0.1\n[x.deploy.parameters]\nstack_name = "s"\nregion = "r"\n'
                      'parameter_overrides = "ApiRateLimit=fast"\n')  # fmt: skip
    environment = load_environment("x", config, template)
    with pytest.raises(ConfigError, match=r"ApiRateLimit='fast' in environment 'x' is not a whole number"):
        model(environment, load_per_order(), template)
    config.write_text('[x.deploy.parameters]\nstack_name = "s"\nregion = "r"\nparameter_overrides = "Nope=1"\n')
    with pytest.raises(ConfigError, match="Nope is not a parameter of the template"):
        load_environment("x", config, template)
    with pytest.raises(ConfigError, match="no usable"):
        load_per_order(tmp_path / "samconfig.toml")


def test_cli_prints_the_model_and_refuses_a_bad_rate(capsys: pytest.CaptureFixture[str]) -> None:
    assert capacity.main(["--env", "prod", "--rate", "100"]) == 0
    assert "at 100 orders/s" in capsys.readouterr().out
    assert capacity.main(["--rate", "-1"]) == 2
    assert "rate must be above 0" in capsys.readouterr().err
