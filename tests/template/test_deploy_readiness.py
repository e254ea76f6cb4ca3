"""What a first `sam deploy` on a new AWS account needs from the template, checked offline: the
per-account bootstrap, reserved concurrency that fits the account, the audit queue's throughput, and what
survives a deleted stack. Each test failed on the template before the fix it guards."""

import json
import re
import shlex
import sys
import tomllib
from typing import Any

import cfnlint.api
import pytest

from saga_local.cloudformation import template as cfn
from saga_local.cloudformation.intrinsics import Resolver
from tests.support.paths import ROOT

BOOTSTRAP = ROOT / "bootstrap" / "account.yaml"
ACCOUNT_CONCURRENCY_QUOTA = 1000  # Lambda's default concurrent executions per account and region
UNRESERVED_MINIMUM = 100  # Lambda refuses a reservation that leaves less than this unreserved


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return cfn.translate(cfn.load())


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _lint(template: dict[str, Any]) -> list[str]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in cfnlint.api.lint(json.dumps(template))]


def _section(page: str, title: str) -> str:
    text = (ROOT / page).read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"{page} has no '## {title}' section"
    return match.group(1)


# ---------------------------------------------------------------- 1. the API Gateway CloudWatch Logs role


def test_bootstrap_template_passes_cfn_lint_and_sets_the_api_gateway_logs_role() -> None:
    bootstrap = cfn.load(BOOTSTRAP)
    assert _lint(bootstrap) == []
    resources = bootstrap["Resources"]
    (account,) = _of_type(resources, "AWS::ApiGateway::Account").values()
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = resources[role_id]
    assert role["Type"] == "AWS::IAM::Role"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    managed = json.dumps(role["Properties"]["ManagedPolicyArns"])
    assert "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs" in managed
    assert "overwrites" in bootstrap["Description"]  # one setting per account and region: it replaces any other


def test_make_bootstrap_deploys_the_account_template_idempotently() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^bootstrap:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert match, "no `make bootstrap` target"
    recipe = match.group(1)
    assert "--template-file bootstrap/account.yaml" in recipe
    assert "--no-fail-on-empty-changeset" in recipe  # a second run on a set-up account succeeds
    # sam deploy reads the samconfig.toml next to the template: the bootstrap goes to the application's region.
    bootstrap_config = tomllib.loads((BOOTSTRAP.parent / "samconfig.toml").read_text(encoding="utf-8"))
    app_config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    region = bootstrap_config["default"]["global"]["parameters"]["region"]
    assert {app_config[env]["global"]["parameters"]["region"] for env in ("default", "prod")} == {region}


@pytest.mark.parametrize(("page", "title"), [("README.md", "Deploy"), ("docs/deploy.md", "In order")])
def test_the_deploy_steps_run_make_bootstrap_before_sam_deploy(page: str, title: str) -> None:
    deploy = _section(page, title)
    assert "make bootstrap" in deploy
    first_deploy = min(deploy.index(word) for word in ("sam deploy", "make deploy") if word in deploy)
    assert deploy.index("make bootstrap") < first_deploy


# ---------------------------------------------------------------- 2. reserved concurrency


def _reservations(translated: dict[str, Any], overrides: dict[str, str]) -> dict[str, int]:
    """Each function's ReservedConcurrentExecutions as CloudFormation would resolve it (absent: not listed)."""
    parameters = {name: overrides.get(name, p.get("Default")) for name, p in translated["Parameters"].items()}
    resolver = Resolver(
        refs={**parameters, "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"},
        attribute=lambda logical_id, name: f"{logical_id}.{name}",
        conditions=translated.get("Conditions"),
    )
    found = {}
    for name, function in _of_type(translated["Resources"], "AWS::Lambda::Function").items():
        reserved = function["Properties"].get("ReservedConcurrentExecutions", {"Ref": "AWS::NoValue"})
        value = resolver.resolve({"v": reserved})  # a property resolved to AWS::NoValue is dropped
        if "v" in value:
            found[name] = int(value["v"])
    return found


def _samconfig_overrides(environment: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    text = config[environment]["deploy"]["parameters"].get("parameter_overrides", "")
    return dict(item.split("=", 1) for item in shlex.split(text))


def test_default_deploy_reserves_no_concurrency(translated: dict[str, Any]) -> None:
    """A new account may have a quota of 10: any reservation would fail the deploy."""
    assert _reservations(translated, {}) == {}
    assert _reservations(translated, _samconfig_overrides("default")) == {}


def test_prod_reservations_leave_the_unreserved_minimum_of_a_default_quota(translated: dict[str, Any]) -> None:
    overrides = _samconfig_overrides("prod")
    assert "FunctionConcurrencyLimit" in overrides  # sized for prod on purpose, not inherited from a default
    reserved = _reservations(translated, overrides)
    assert reserved, "prod reserves nothing"
    assert all(value > 0 for value in reserved.values()), reserved  # 0 would throttle every invocation
    assert ACCOUNT_CONCURRENCY_QUOTA - sum(reserved.values()) >= UNRESERVED_MINIMUM, reserved


# ---------------------------------------------------------------- 3. the audit FIFO queue


def test_audit_queue_is_a_high_throughput_fifo_queue(translated: dict[str, Any]) -> None:
    props = translated["Resources"]["AuditQueue"]["Properties"]
    assert props["FifoQueue"] is True
    assert props["DeduplicationScope"] == "messageGroup"
    assert props["FifoThroughputLimit"] == "perMessageGroupId"


# ---------------------------------------------------------------- 4. hardening


def test_tables_and_the_data_key_survive_stack_deletion_and_replacement(translated: dict[str, Any]) -> None:
    """The data key is retained with the tables: a retained table whose key is deleted cannot be read."""
    resources = translated["Resources"]
    retained = [*_of_type(resources, "AWS::DynamoDB::Table"), "DataKey"]
    for name in retained:
        assert resources[name].get("DeletionPolicy") == "Retain", name
        assert resources[name].get("UpdateReplacePolicy") == "Retain", name


def test_tables_have_deletion_protection_on_by_default(translated: dict[str, Any]) -> None:
    parameters = {name: p.get("Default") for name, p in translated["Parameters"].items()}
    resolver = Resolver(refs=parameters, attribute=lambda i, n: f"{i}.{n}", conditions=translated.get("Conditions"))
    for name, table in _of_type(translated["Resources"], "AWS::DynamoDB::Table").items():
        value = resolver.resolve(table["Properties"].get("DeletionProtectionEnabled", False))
        assert str(value).lower() == "true", name
    prod = {**parameters, **_samconfig_overrides("prod")}
    resolver = Resolver(refs=prod, attribute=lambda i, n: f"{i}.{n}", conditions=translated.get("Conditions"))
    for name, table in _of_type(translated["Resources"], "AWS::DynamoDB::Table").items():
        assert str(resolver.resolve(table["Properties"]["DeletionProtectionEnabled"])).lower() == "true", name


def test_sam_creates_no_extra_stage_named_stage(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    stage_names = [r["Properties"].get("StageName") for r in _of_type(resources, "AWS::ApiGateway::Stage").values()]
    deployment_stages = [
        r["Properties"].get("StageName") for r in _of_type(resources, "AWS::ApiGateway::Deployment").values()
    ]
    assert "Stage" not in stage_names + deployment_stages


def test_alarm_topic_key_lets_only_this_accounts_cloudwatch_use_it(translated: dict[str, Any]) -> None:
    statements = translated["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_layer_name_is_the_stacks_own(translated: dict[str, Any]) -> None:
    (layer,) = _of_type(translated["Resources"], "AWS::Lambda::LayerVersion").values()
    name = layer["Properties"].get("LayerName")
    assert name is None or "${AWS::StackName}" in json.dumps(name), name


def test_openapi_hard_codes_no_partition() -> None:
    text = (ROOT / "api" / "openapi.yaml").read_text(encoding="utf-8")
    assert "arn:aws:" not in text
    assert "arn:${AWS::Partition}:" in text
