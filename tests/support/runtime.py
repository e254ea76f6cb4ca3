"""Functions for saga_local's Lambda runtime: the fixture functions of tests/local/fixtures, as specs."""

from typing import Any

from saga_local.cloudformation.specs import FunctionSpec
from tests.support.aws import REGION
from tests.support.paths import ROOT

FIXTURES = ROOT / "tests" / "local" / "fixtures"
BEHAVIOURS = FIXTURES / "functions" / "behaviours"
LAYER = FIXTURES / "layers" / "common"
ENDPOINT = "http://127.0.0.1:4566"
ACCOUNT = "123456789012"


def spec(name: str, handler: str, **overrides: Any) -> FunctionSpec:
    fields: dict[str, Any] = {
        "logical_id": name.title(),
        "name": name,
        "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "code_dir": BEHAVIOURS,
        "handler": handler,
        "layer_dirs": (LAYER,),
        "environment": {"POWERTOOLS_SERVICE_NAME": name, "TABLE_NAME": "t"},
        "timeout_seconds": 3,
        "memory_mb": 256,
    }
    return FunctionSpec(**{**fields, **overrides})
