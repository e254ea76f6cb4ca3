"""The local stack's provisioner: every resource of template.yaml, created from the template itself."""

import copy
import json
from typing import Any

import boto3
import pytest

from saga_local.awslambda.account import ACCOUNT_CONCURRENCY
from saga_local.cloudformation import template as cfn
from saga_local.cloudformation.provision import NO_CLOUDWATCH_ROLE, ProvisionError, Stack, bootstrap, provision
from tests.support import template


def _clients(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]  # dynamic service name


def _provision(sam_template: dict[str, Any] | None = None) -> Stack:
    return provision(_clients, stack_name="p", sam_template=sam_template)


@pytest.fixture(autouse=True)
def _account_patch() -> None:
    ACCOUNT_CONCURRENCY.apply()  # the account's quota and reservations, as the local stack runs moto


@pytest.fixture
def bootstrapped(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # `aws` starts moto
    from moto.iam.models import iam_backends

    # As the local stack runs moto: AWS managed policies known (IAM's backend reads this as it is made).
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    iam_backends["123456789012"]["aws"].reset()
    bootstrap(_clients)  # what `make bootstrap` deploys before the first `sam deploy`


@pytest.fixture
def stack(bootstrapped: None) -> Stack:
    return _provision()


def test_every_resource_is_created_or_skipped_with_a_reason(stack: Stack) -> None:
    translated = cfn.translate(cfn.load(), {"AWS::StackName": "p"})
    assert set(translated["Resources"]) <= set(stack.refs) | set(stack.skipped)
    assert stack.skipped == {"AlarmEmailSubscription": "condition HasAlarmEmail is false"}


def test_roles_get_their_inline_customer_managed_and_aws_managed_policies(stack: Stack) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    relay = stack.refs["OutboxRelayFunctionRole"]
    attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=relay)["AttachedPolicies"]}
    assert {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSLambdaDynamoDBExecutionRole"} <= attached
    assert any("PublishEventsPolicy" in name for name in attached)  # the connector's policy
    assert iam.list_role_policies(RoleName=relay)["PolicyNames"] == ["OutboxRelayFunctionOrdersStreamSQSPolicy"]
    functions = {spec.logical_id: spec.role_arn for spec in stack.functions}
    assert functions["InventoryFunction"] == iam.get_role(RoleName=stack.refs["InventoryFunctionRole"])["Role"]["Arn"]


def test_tables_have_the_templates_keys_stream_and_ttl(stack: Stack) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    sam = cfn.load()
    for logical_id, resource in cfn.resources_of_type(sam, "AWS::DynamoDB::Table").items():
        table = dynamodb.describe_table(TableName=stack.refs[logical_id])["Table"]
        assert table["KeySchema"] == resource["Properties"]["KeySchema"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    orders = dynamodb.describe_table(TableName=stack.refs["OrdersTable"])["Table"]
    assert orders["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ttl = dynamodb.describe_time_to_live(TableName=stack.refs["IdempotencyTable"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"


def test_functions_get_their_code_handler_layers_and_resolved_environment(stack: Stack) -> None:
    functions = {f.logical_id: f for f in stack.functions}
    assert set(functions) == set(cfn.resources_of_type(cfn.load(), "AWS::Serverless::Function"))
    payments = functions["PaymentsFunction"]
    assert payments.code_dir == cfn.ROOT / "functions" / "payments"
    assert payments.handler == "payments.handler.lambda_handler"
    assert [d.name for d in payments.layer_dirs] == ["shared"]
    assert (payments.timeout_seconds, payments.memory_mb, payments.runtime) == (1, 512, "python3.13")
    assert payments.environment["PAYMENTS_TABLE"] == stack.refs["PaymentsTable"]  # the function's own
    assert payments.environment["IDEMPOTENCY_TABLE"] == stack.refs["IdempotencyTable"]
    assert payments.environment["POWERTOOLS_METRICS_NAMESPACE"] == "OrderSaga"  # from Globals
    assert payments.tracing_active


def test_the_state_machine_runs_the_asl_file_with_the_functions_arns(stack: Stack) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.describe_state_machine(stateMachineArn=stack.refs["OrderSagaStateMachine"])
    assert machine["type"] == "EXPRESS"
    assert "${" not in machine["definition"]
    resources = {state["Resource"] for state in _tasks(json.loads(machine["definition"]))}
    steps = {f.arn for f in stack.functions if f.logical_id not in ("OutboxRelayFunction", "RecoverySweepFunction")}
    assert steps <= resources
    # The orchestrator writes the order itself, to the orders table named in the definition.
    assert {"arn:aws:states:::dynamodb:putItem", "arn:aws:states:::dynamodb:updateItem"} <= resources
    assert f'"TableName": "{stack.refs["OrdersTable"]}"' in machine["definition"]


def _tasks(definition: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in definition["States"].values():
        if state["Type"] == "Task":
            found.append(state)
        for branch in state.get("Branches", []):
            found += _tasks(branch)
    return found


def test_stream_mapping_and_api_become_specs_for_the_emulators(stack: Stack) -> None:
    (mapping,) = stack.mappings
    assert mapping.stream_arn == stack.attribute("OrdersTable", "StreamArn")
    assert (mapping.batch_size, mapping.maximum_retry_attempts, mapping.maximum_record_age_seconds) == (50, 5, 3600)
    assert mapping.report_batch_item_failures
    assert mapping.bisect_batch_on_function_error
    assert mapping.on_failure_destination_arn == stack.attribute("OutboxRelayDLQ", "Arn")
    assert {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"orderId": {"S": [{"prefix": "ord_"}]}}},
    } in mapping.filter_patterns
    (api,) = stack.apis
    assert api.stage == "dev"
    assert len(api.api_keys) == 1
    assert set(api.definition["paths"]) == {"/orders", "/orders/{orderId}"}
    assert api.tracing_enabled


def test_a_schedule_becomes_a_spec_for_the_local_scheduler(stack: Stack) -> None:
    """The recovery sweep's ScheduleV2 event (AWS::Scheduler::Schedule) invokes its function every minute."""
    (schedule,) = stack.schedules
    assert schedule.logical_id == "RecoverySweepFunctionEveryMinute"
    assert schedule.target_arn == next(f.arn for f in stack.functions if f.logical_id == "RecoverySweepFunction")
    assert schedule.interval_seconds == 60
    assert schedule.enabled


def test_outputs_are_resolved(stack: Stack) -> None:
    assert set(stack.outputs) == set(cfn.load()["Outputs"])
    assert all(isinstance(value, str) for value in stack.outputs.values())
    assert stack.outputs["OrdersTableName"] == stack.refs["OrdersTable"]


def test_a_table_added_to_the_template_appears_with_no_other_change(bootstrapped: None) -> None:
    sam = copy.deepcopy(cfn.load())
    sam["Resources"]["ReturnsTable"] = {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "returnId", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "returnId", "KeyType": "HASH"}],
        },
    }
    stack = _provision(sam)
    table = boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=stack.refs["ReturnsTable"])
    assert table["Table"]["KeySchema"] == [{"AttributeName": "returnId", "KeyType": "HASH"}]


def test_reserved_concurrency_follows_the_parameter_as_cloudformation_resolves_it(bootstrapped: None) -> None:
    """`FunctionConcurrencyLimit` 0 (the default) means no reservation: Fn::Equals compares a Number parameter
    with "0" as a string, as CloudFormation does. A reservation of 0 would throttle every invocation."""
    default = _provision()
    assert {f.logical_id: f.reserved_concurrency for f in default.functions} == dict.fromkeys(template.functions())
    prod = provision(
        lambda s: boto3.client(s, region_name="us-east-1"),  # type: ignore[call-overload]  # dynamic service name
        stack_name="prod",
        parameters={"FunctionConcurrencyLimit": "200"},
    )
    reserved = {f.logical_id: f.reserved_concurrency for f in prod.functions}
    assert reserved == {**dict.fromkeys(template.functions()), **dict.fromkeys(template.reserving_concurrency(), 200)}


# ---------------------------------------------------------------- where CloudFormation would fail


def _prod_parameters() -> dict[str, str]:
    """samconfig.toml's [prod] parameter_overrides, as `sam deploy --config-env prod` passes them."""
    import shlex
    import tomllib

    config = tomllib.loads((cfn.ROOT / "samconfig.toml").read_text())
    overrides = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in shlex.split(overrides))


def test_a_fresh_account_without_the_bootstrap_fails_on_the_stage_with_access_logging(aws: Any) -> None:
    """API Gateway refuses a stage with access logging until the account names a CloudWatch Logs role."""
    apigateway = boto3.client("apigateway", region_name="us-east-1")
    assert apigateway.get_account().get("cloudwatchRoleArn") is None  # a new account has none

    with pytest.raises(ProvisionError) as failed:
        _provision()

    assert failed.value.resource_type == "AWS::ApiGateway::Stage"
    assert (
        failed.value.reason
        == NO_CLOUDWATCH_ROLE
        == ("CloudWatch Logs role ARN must be set in account settings to enable logging")
    )
    assert str(failed.value).startswith(f"{failed.value.logical_id} (AWS::ApiGateway::Stage) CREATE_FAILED: ")


def test_the_bootstrap_sets_api_gateways_cloudwatch_role_and_the_stack_then_deploys(aws: Any) -> None:
    boot = bootstrap(_clients)

    role_arn = boot.outputs["ApiGatewayCloudWatchLogsRoleArn"]
    assert boto3.client("apigateway", region_name="us-east-1").get_account()["cloudwatchRoleArn"] == role_arn
    role = boto3.client("iam").get_role(RoleName=boot.refs["ApiGatewayCloudWatchLogsRole"])["Role"]
    assert role["Arn"] == role_arn
    assert "apigateway.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])  # API Gateway may assume it
    assert _provision().apis  # the stage with access logging is created


def test_prod_parameters_on_a_new_accounts_quota_of_10_fail_with_lambdas_message(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FunctionConcurrencyLimit=200 reserves 3 x 200: an account with a quota of 10 cannot give any of it."""
    monkeypatch.setenv("SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA", "10")
    bootstrap(_clients)

    with pytest.raises(ProvisionError) as failed:
        provision(_clients, stack_name="prod", parameters=_prod_parameters())

    assert failed.value.resource_type == "AWS::Lambda::Function"
    assert failed.value.reason == (
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [10]."
    )


def _prod_reservation() -> int:
    """What prod reserves in all: FunctionConcurrencyLimit on each of the three saga steps."""
    return 3 * int(_prod_parameters()["FunctionConcurrencyLimit"])


def test_prod_parameters_on_the_default_quota_reserve_what_samconfig_says(bootstrapped: None) -> None:
    provision(_clients, stack_name="prod", parameters=_prod_parameters())

    limit = boto3.client("lambda", region_name="us-east-1").get_account_settings()["AccountLimit"]
    unreserved = 1000 - _prod_reservation()
    assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (1000, unreserved)


def test_reserving_stacks_past_the_minimum_fail_with_lambdas_message(bootstrapped: None) -> None:
    """Reservations add up across stacks of one account: copies of prod fit until one would leave under 100."""
    fitting = (1000 - 100) // _prod_reservation()
    for number in range(fitting):
        provision(_clients, stack_name=f"prod{number}", parameters=_prod_parameters())

    with pytest.raises(ProvisionError) as failed:
        provision(_clients, stack_name="one-too-many", parameters=_prod_parameters())

    assert failed.value.reason == (
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [100]."
    )
