"""The template as AWS will see it: SAM's own validation, and cfn-lint on the translated CloudFormation
(cfn-lint alone does not run the SAM transform and misses mistakes inside SAM resources)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cfnlint.api
import pytest

from saga_local.cloudformation import template as cfn
from statemachine import asl
from tests.support.paths import ROOT


def _sam() -> str:
    sam = shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam")
    if sam is None:
        pytest.fail("the SAM CLI is not installed: make install")
    return sam


@pytest.mark.slow
def test_sam_validate_lint_passes() -> None:
    result = subprocess.run(
        [_sam(), "validate", "--lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def translated() -> dict:
    return cfn.translate(cfn.load())


def _lint(template: dict) -> list[str]:
    # SAM inlines the ASL as an Fn::Join of its ~900 lines, and cfn-lint validates a Join's list recursively,
    # one frame per element: past Python's default limit it reports E1022 "maximum recursion depth exceeded".
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in cfnlint.api.lint(json.dumps(template))]


def test_translated_cloudformation_passes_cfn_lint(translated: dict) -> None:
    assert _lint(translated) == []


def test_cfn_lint_on_translated_template_catches_sam_mistakes() -> None:
    """Guards the guard: the mistakes cfn-lint misses on the SAM template are caught here."""
    broken = cfn.load()
    broken["Globals"]["Function"]["Runtime"] = "python3.99"
    assert any("python3.99" in message for message in _lint(cfn.translate(broken)))


def test_state_machine_definition_passes_cfn_lint_state_machine_rule() -> None:
    """Nothing lints a DefinitionUri file, so lint the ASL as an inline Definition (rule E3601)."""
    definition = asl.load(
        substitutions={
            name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in asl.substitution_names()
        }
    )
    wrapper = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Saga": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineType": "EXPRESS",
                    "RoleArn": "arn:aws:iam::123456789012:role/saga",
                    "Definition": definition,
                },
            }
        },
    }
    assert _lint(wrapper) == []


def test_asl_lint_catches_a_malformed_state() -> None:
    """Guards the guard. (Transitions are checked by tests/statemachine: rule E3601 checks the schema only.)"""
    definition = asl.load(
        substitutions={n: "arn:aws:lambda:us-east-1:123456789012:function:x" for n in asl.substitution_names()}
    )
    definition["States"]["ChargePayment"]["TimeoutSeconds"] = "one second"
    wrapper = {
        "Resources": {
            "Saga": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": "arn:aws:iam::123456789012:role/saga", "Definition": definition},
            }
        }
    }
    assert any("one second" in message for message in _lint(wrapper))


@pytest.mark.slow
def test_sam_build_succeeds(tmp_path: Path) -> None:
    """`sam build` for arm64/python3.13: needs python3.13 on PATH (the project's .venv provides it)."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    build_dir = tmp_path / "build"
    result = subprocess.run(
        [_sam(), "build", "--build-dir", str(build_dir), "--parallel", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = json.loads(json.dumps(cfn.load(build_dir / "template.yaml")))
    functions = cfn.resources_of_type(built, "AWS::Serverless::Function")
    for name, function in functions.items():
        package = build_dir / function["Properties"]["CodeUri"]
        handler_module = function["Properties"]["Handler"].rsplit(".", 1)[0].replace(".", "/") + ".py"
        assert (package / handler_module).is_file(), f"{name}: {handler_module} missing from the build"
    layer = build_dir / "SagaCommonLayer" / "python"
    assert (layer / "saga_common" / "handler.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir()
