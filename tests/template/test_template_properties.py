"""What the template promises, checked on the CloudFormation that would be deployed."""

import json
from pathlib import Path
from typing import Any

import pytest

from saga_local.cloudformation import template as cfn
from tests.support import template
from tests.support.paths import ROOT

# The functions the saga's Tasks call, and every function of the template.
SAGA_FUNCTIONS = sorted({task.function for task in template.saga_tasks().values()})
ALL_FUNCTIONS = list(template.functions())
# Actions AWS offers no resource-level permission for (documented per service).
STAR_RESOURCE_ACTIONS = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
}  # fmt: skip


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return cfn.load()


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return cfn.translate(cfn.load())["Resources"]


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def test_every_table_is_on_demand_encrypted_and_recoverable(resources: dict[str, Any]) -> None:
    tables = _of_type(resources, "AWS::DynamoDB::Table")
    assert set(tables) == set(template.tables())
    for name, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name


def test_orders_stream_carries_both_images_and_idempotency_records_expire(resources: dict[str, Any]) -> None:
    assert resources["OrdersTable"]["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = resources["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_functions_run_python313_on_arm64_traced(resources: dict[str, Any], function: str) -> None:
    props = resources[function]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    env = props["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "OrderSaga"


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_each_function_has_a_log_group_with_retention(sam: dict[str, Any], function: str) -> None:
    groups = cfn.resources_of_type(sam, "AWS::Logs::LogGroup").values()
    assert any(
        g["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
        and g["Properties"]["RetentionInDays"]
        for g in groups
    )


def test_each_service_reaches_only_its_own_table(resources: dict[str, Any]) -> None:
    """Each service owns its database: its role names its table, and the idempotency table where a step keeps
    Powertools idempotency records (payments only: the other steps' conditional writes are their idempotency).
    The orchestrator owns the order record: only the state machine reaches the orders table."""
    own = {"OrderSagaStateMachine": {"OrdersTable"}} | {
        function: set(template.functions()[function].tables.values()) for function in SAGA_FUNCTIONS
    }  # a step's tables: those its environment names
    tables = set(_of_type(resources, "AWS::DynamoDB::Table"))
    policies = _of_type(resources, "AWS::IAM::ManagedPolicy") | _of_type(resources, "AWS::IAM::Policy")
    for owner, table in own.items():
        reached: set[str] = set()
        props = resources[owner]["Properties"]
        role = (props.get("Role") or props["RoleArn"])["Fn::GetAtt"][0]
        for policy in policies.values():
            attached = policy["Properties"].get("Roles", [])
            if {"Ref": role} in attached:
                reached |= {t for t in tables if f'"{t}"' in json.dumps(policy["Properties"]["PolicyDocument"])}
        assert reached == table, owner


def _statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if "PolicyDocument" in props and resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            statements = document["Statement"]
            found += [(name, s) for s in (statements if isinstance(statements, list) else [statements])]
    return found


def test_no_iam_statement_grants_star_actions_or_star_resources_needlessly(resources: dict[str, Any]) -> None:
    statements = _statements(resources)
    assert statements
    for owner, statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions), (owner, actions)
        if statement.get("Resource") == "*" or statement.get("Resource") == ["*"]:
            assert set(actions) <= STAR_RESOURCE_ACTIONS, (owner, actions)


def test_saga_is_an_express_machine_traced_and_logged_without_execution_data(resources: dict[str, Any]) -> None:
    props = resources["OrderSagaStateMachine"]["Properties"]
    assert props["StateMachineType"] == "EXPRESS"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["LoggingConfiguration"]["Destinations"]


def test_api_stage_is_traced_logged_and_throttled(resources: dict[str, Any]) -> None:
    stages = _of_type(resources, "AWS::ApiGateway::Stage")
    (stage,) = stages.values()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    assert props["AccessLogSetting"]["DestinationArn"]
    (settings,) = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"]
    assert settings["ThrottlingBurstLimit"]


def test_every_operation_needs_a_sigv4_signature_and_an_api_key_tied_to_a_usage_plan(
    resources: dict[str, Any],
) -> None:
    body = resources["OrdersApi"]["Properties"]["Body"]
    schemes = body["components"]["securitySchemes"]
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"  # imported as AWS_IAM
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            # One requirement naming both: IAM authorization AND the usage plan's key.
            assert {"sigv4": [], "api_key": []} in operation.get("security", body.get("security", [])), (path, method)
    assert resources["ApiUsagePlanKey"]["Properties"]["KeyId"] == {"Ref": "ApiKey"}
    assert resources["ApiUsagePlan"]["Properties"]["Throttle"]


def test_post_orders_starts_the_express_machine_synchronously_without_a_lambda(resources: dict[str, Any]) -> None:
    integration = resources["OrdersApi"]["Properties"]["Body"]["paths"]["/orders"]["post"][
        "x-amazon-apigateway-integration"
    ]
    assert integration["type"] == "aws"
    assert "states:action/StartSyncExecution" in json.dumps(integration["uri"])


def test_outbox_mapping_is_filtered_checkpointed_and_has_a_dead_letter_queue(resources: dict[str, Any]) -> None:
    (mapping,) = _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 < props["MaximumRetryAttempts"] <= 10
    assert 0 < props["MaximumRecordAgeInSeconds"] <= 21600
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["OutboxRelayDLQ", "Arn"]}
    patterns = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]
    assert {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"orderId": {"S": [{"prefix": "ord_"}]}}},
    } in patterns  # an order's, not an Idempotency-Key record's
    assert all("eventName" in p for p in patterns)


def test_events_topic_is_fifo_encrypted_and_feeds_the_audit_queue_raw(resources: dict[str, Any]) -> None:
    topic = resources["OrderEventsTopic"]["Properties"]
    assert topic["FifoTopic"] is True
    assert topic["KmsMasterKeyId"]
    subscription = resources["AuditSubscription"]["Properties"]
    assert subscription["RawMessageDelivery"] is True
    assert resources["AuditQueue"]["Properties"]["FifoQueue"] is True
    assert resources["AuditQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]


def test_every_topic_and_queue_is_encrypted(resources: dict[str, Any]) -> None:
    for name, topic in _of_type(resources, "AWS::SNS::Topic").items():
        assert topic["Properties"].get("KmsMasterKeyId"), name
    for name, queue in _of_type(resources, "AWS::SQS::Queue").items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), name


def test_alarms_watch_dlqs_failures_timeouts_compensations_iterator_age_and_5xx(resources: dict[str, Any]) -> None:
    alarms = _of_type(resources, "AWS::CloudWatch::Alarm").values()
    watched = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms}
    assert watched >= {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("OrderSaga", "CompensationFailures"),
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/ApiGateway", "5XXError"),
    }
    dlq_alarms = [a for a in alarms if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    assert len(dlq_alarms) == len([q for q in _of_type(resources, "AWS::SQS::Queue") if "DLQ" in q])
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


def test_outputs_name_every_endpoint_table_topic_and_queue(sam: dict[str, Any]) -> None:
    outputs = sam["Outputs"]
    assert {"ApiUrl", "ApiKeyId", "OrderSagaStateMachineArn", "OrderEventsTopicArn"} <= set(outputs)
    refs = {json.dumps(o["Value"]) for o in outputs.values()}
    for logical_id in [
        *cfn.resources_of_type(sam, "AWS::DynamoDB::Table"),
        *cfn.resources_of_type(sam, "AWS::SQS::Queue"),
    ]:
        assert json.dumps({"Ref": logical_id}) in refs, logical_id


def test_samconfig_has_default_and_prod_environments_with_a_region() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        assert config[env]["global"]["parameters"]["region"]
        assert config[env]["global"]["parameters"]["stack_name"]
        assert "CAPABILITY_IAM" in config[env]["deploy"]["parameters"]["capabilities"]


def _scheduled(function: str) -> bool:
    """Whether only a schedule invokes the function (its event says nothing a sample could show)."""
    events = template.resources()[function]["Properties"].get("Events") or {}
    return bool(events) and all(event["Type"] in ("Schedule", "ScheduleV2") for event in events.values())


@pytest.mark.parametrize("function", [function for function in ALL_FUNCTIONS if not _scheduled(function)])
def test_every_function_has_a_sample_event(sam: dict[str, Any], function: str) -> None:
    code_dir = Path(sam["Resources"][function]["Properties"]["CodeUri"]).name.replace("_", "-")
    assert list((ROOT / "events").glob(f"{code_dir}-*.json")), f"no events/{code_dir}-*.json for {function}"
