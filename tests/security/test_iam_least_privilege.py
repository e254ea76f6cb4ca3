"""Least privilege in what `sam deploy` would submit: the SAM template translated (connectors and policy templates
expanded into the IAM policies they make), every policy document in it read: roles' inline policies, managed
policies, queue and topic policies, KMS key policies; and the AWS managed policies SAM attaches by ARN."""

import copy
import json
from typing import Any

import pytest

from saga_local.cloudformation import template as cfn

# Actions granted on Resource "*" because AWS offers no resource-level permission for them.
STAR_RESOURCE_ACTIONS = {
    # Step Functions logging to CloudWatch Logs: the log delivery APIs take no resource ARN (Step Functions
    # developer guide, "IAM policies for logging to CloudWatch Logs").
    "logs:CreateLogDelivery": "log delivery API: no resource-level permission",
    "logs:GetLogDelivery": "log delivery API: no resource-level permission",
    "logs:UpdateLogDelivery": "log delivery API: no resource-level permission",
    "logs:DeleteLogDelivery": "log delivery API: no resource-level permission",
    "logs:ListLogDeliveries": "log delivery API: no resource-level permission",
    "logs:PutResourcePolicy": "account-wide CloudWatch Logs resource policy the delivery writes: no resource ARN",
    "logs:DescribeResourcePolicies": "account-wide listing: no resource-level permission",
    "logs:DescribeLogGroups": "account-wide listing: no resource-level permission",
}

# KMS key policies: "Resource": "*" there means the key itself. A wildcard action is allowed only here.
KEY_POLICY_WILDCARD_ACTIONS = {
    ("DataKey", "AccountAdministers"): "the default key policy: the account's IAM policies govern the key",
    ("AlarmTopicKey", "AccountAdministers"): "the default key policy: the account's IAM policies govern the key",
}

# AWS managed policies SAM attaches to the roles it generates (their statements are not in the template).
MANAGED_POLICIES = {
    "AWSXrayWriteOnlyAccess": "Tracing: Active. xray:PutTraceSegments/PutTelemetryRecords/GetSampling* have no "
    "resource-level permission.",
    "service-role/AWSLambdaBasicExecutionRole": "added by SAM to every function role it generates: "
    "logs:CreateLogGroup/CreateLogStream/PutLogEvents on '*'. The widest grant left; narrowing it to the "
    "functions' own log groups needs hand-written roles or a permissions boundary.",
    "service-role/AWSLambdaDynamoDBExecutionRole": "added by SAM for the orders stream event source: stream reads "
    "(DescribeStream, GetRecords, GetShardIterator, ListStreams) and logs, on '*'.",
}

# Conditions that bound a '*' principal to this account or to one of its resources.
ACCOUNT_BOUNDS = {"kms:CallerAccount", "aws:SourceAccount", "aws:SourceArn", "aws:PrincipalAccount"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(resources: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(resource id, kind of document, statement) for every policy document of the template."""
    found = []
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        documents = [("iam", p["PolicyDocument"]) for p in props.get("Policies", [])]
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            documents.append(("iam", props["PolicyDocument"]))
        if resource["Type"] in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            documents.append(("resource", props["PolicyDocument"]))
        if resource["Type"] == "AWS::KMS::Key":
            documents.append(("key", props["KeyPolicy"]))
        found += [(name, kind, s) for kind, document in documents for s in _as_list(document["Statement"])]
    return found


def violations(resources: dict[str, Any]) -> list[str]:
    problems = []
    used: set[Any] = set()
    for owner, kind, statement in policy_statements(resources):
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement["Action"])
        where = f"{owner} {statement.get('Sid') or ''} {actions}"
        wildcard = [a for a in actions if a == "*" or a.endswith(":*")]
        if wildcard:
            key = (owner, statement.get("Sid"))
            if kind == "key" and key in KEY_POLICY_WILDCARD_ACTIONS:
                used.add(key)
            else:
                problems.append(f"wildcard action: {where}")
        if kind != "key" and "*" in _as_list(statement.get("Resource")):
            unjustified = [a for a in actions if a not in STAR_RESOURCE_ACTIONS]
            used.update(a for a in actions if a in STAR_RESOURCE_ACTIONS)
            if unjustified:
                problems.append(f"Resource '*' for {unjustified}: {owner}")
        principal = statement.get("Principal")
        principals = _as_list(principal.get("AWS")) if isinstance(principal, dict) else _as_list(principal)
        if "*" in principals:
            conditions = {key for block in (statement.get("Condition") or {}).values() for key in block}
            if not conditions & ACCOUNT_BOUNDS:
                problems.append(f"principal '*' not bound to this account: {where}")
    stale = {*STAR_RESOURCE_ACTIONS, *KEY_POLICY_WILDCARD_ACTIONS} - used
    problems += [f"allowlist entry no statement needs (remove it): {entry}" for entry in sorted(map(str, stale))]
    return problems


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return cfn.translate(cfn.load())["Resources"]


def test_no_statement_grants_wildcard_actions_or_resources_beyond_the_allowlist(resources: dict[str, Any]) -> None:
    assert len(policy_statements(resources)) > 20  # connectors expanded into their policies
    assert violations(resources) == []


def test_a_planted_wildcard_is_caught(resources: dict[str, Any]) -> None:
    """Guards the guard: a star action, a star resource, an unbound '*' principal are each reported."""
    planted = copy.deepcopy(resources)
    role = planted["InventoryFunctionRole"]["Properties"]
    role["Policies"] = [{"PolicyName": "p", "PolicyDocument": {"Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": {"Fn::GetAtt": ["OrdersTable", "Arn"]}},
        {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": "*"},
    ]}}]  # fmt: skip
    planted["AuditQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0].pop("Condition")
    planted["AuditQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Principal"] = "*"
    found = violations(planted)
    assert any(p.startswith("wildcard action: InventoryFunctionRole") for p in found), found
    assert "Resource '*' for ['sns:Publish']: InventoryFunctionRole" in found
    assert any(p.startswith("principal '*' not bound to this account: AuditQueuePolicy") for p in found), found


def test_only_known_aws_managed_policies_are_attached(resources: dict[str, Any]) -> None:
    attached = set()
    for resource in resources.values():
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            if ":iam::aws:policy/" in text:  # an AWS managed policy, not one of this template's
                attached.add(text.split(":iam::aws:policy/", 1)[1].rstrip('"'))
    assert attached == set(MANAGED_POLICIES)


def test_every_role_is_assumable_only_by_its_aws_service(resources: dict[str, Any]) -> None:
    roles = {name: r for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert roles
    for name, role in roles.items():
        for statement in _as_list(role["Properties"]["AssumeRolePolicyDocument"]["Statement"]):
            principal = statement["Principal"]
            assert set(principal) == {"Service"}, name
            assert all(s.endswith(".amazonaws.com") for s in _as_list(principal["Service"])), name
