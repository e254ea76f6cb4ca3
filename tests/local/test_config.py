"""saga_local.core.config: every local-stack setting read in one place, validated, and documented in one table."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from saga_local.core import config

ROOT = Path(__file__).resolve().parents[2]


def test_docs_configuration_md_is_the_table_config_py_generates() -> None:
    """When this fails: `.venv/bin/python -m saga_local.core.config > docs/configuration.md`."""
    assert (ROOT / "docs" / "configuration.md").read_text() == config.markdown_table()


def test_every_setting_has_the_one_prefix_a_default_and_a_description() -> None:
    documented = [f for f in fields(config.Config) if "variable" in f.metadata]
    assert len(documented) >= 15
    for setting in documented:
        assert setting.metadata["variable"].startswith("SAGA_LOCAL_")
        assert setting.metadata["default"]
        assert setting.metadata["doc"].endswith(".")


def test_unset_or_empty_variables_give_the_defaults() -> None:
    assert config.load({}) == config.Config()
    assert config.load({"SAGA_LOCAL_API_PORT": ""}).api_port == 3000


def test_each_variable_sets_its_field() -> None:
    loaded = config.load(
        {
            "SAGA_LOCAL_AWS_PORT": "4599",
            "SAGA_LOCAL_API_PORT": "3099",
            "SAGA_LOCAL_XRAY_PORT": "2099",
            "SAGA_LOCAL_STATE_DIR": "/tmp/state",
            "SAGA_LOCAL_STACK_NAME": "mine",
            "SAGA_LOCAL_CONCURRENT_EXECUTIONS": "2",
            "SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA": "10",
            "SAGA_LOCAL_BOOTSTRAP": "0",
            "SAGA_LOCAL_IAM_ENFORCEMENT": "off",
            "SAGA_LOCAL_FAULTS_FILE": "/tmp/faults.json",
            "SAGA_LOCAL_TIMEOUT_SCALE": "2.5",
            "SAGA_LOCAL_RETRY_SCALE": "0",
            "SAGA_LOCAL_SCHEDULE_SECONDS": "0.5",
            "SAGA_LOCAL_XRAY_ADDRESS": "127.0.0.1:2999",
            "SAGA_LOCAL_FUNCTION_ENV_STUCK_AFTER_SECONDS": "5",
            "LOCAL_API_PORT": "1",  # the old name is not read
        }
    )
    assert (loaded.aws_port, loaded.api_port, loaded.xray_port) == (4599, 3099, 2099)
    assert loaded.state_dir == Path("/tmp/state")
    assert loaded.outputs_file == Path("/tmp/state/outputs.json")
    assert loaded.endpoint_url == "http://127.0.0.1:4599"
    assert loaded.stack_name == "mine"
    assert (loaded.concurrent_executions, loaded.lambda_concurrency_quota) == (2, 10)
    assert (loaded.bootstrap, loaded.iam_enforcement) == (False, False)
    assert loaded.faults_file == Path("/tmp/faults.json")
    assert (loaded.timeout_scale, loaded.retry_scale, loaded.schedule_seconds) == (2.5, 0, 0.5)
    assert loaded.xray_address == "127.0.0.1:2999"
    assert loaded.function_env == {"STUCK_AFTER_SECONDS": "5"}


def test_options_given_on_the_command_line_win() -> None:
    assert config.load({"SAGA_LOCAL_CONCURRENT_EXECUTIONS": "2"}, concurrent_executions=6).concurrent_executions == 6


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAGA_LOCAL_AWS_PORT", "x"),
        ("SAGA_LOCAL_API_PORT", "70000"),
        ("SAGA_LOCAL_CONCURRENT_EXECUTIONS", "0"),
        ("SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA", "-3"),
        ("SAGA_LOCAL_BOOTSTRAP", "yes"),
        ("SAGA_LOCAL_IAM_ENFORCEMENT", "0"),
        ("SAGA_LOCAL_TIMEOUT_SCALE", "0"),
        ("SAGA_LOCAL_RETRY_SCALE", "-1"),
        ("SAGA_LOCAL_RETRY_SCALE", "nan"),
        ("SAGA_LOCAL_SCHEDULE_SECONDS", "0"),
        ("SAGA_LOCAL_XRAY_ADDRESS", "nowhere"),
        ("SAGA_LOCAL_STACK_NAME", "  "),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(config.ConfigError, match=f"^{variable} must"):
        config.load({variable: value})


def test_nothing_else_reads_the_settings_from_the_environment() -> None:
    """Every use goes through config.py: no other module of the local stack or the operator's tools looks a
    SAGA_LOCAL_ variable up itself (the scripts that start a stack set them, or pass the user's on, for that stack)."""
    reads = re.compile(r"(environ\.get|environ\[|getenv)\(?\s*[\"']SAGA_LOCAL_")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("saga_local", "saga_ops")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "config.py" and reads.search(path.read_text())
    ]
    assert offenders == []
