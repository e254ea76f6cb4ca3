"""Encryption at rest in the translated template: every table, topic, queue and log group, with keys that rotate;
and the state machine's logs leave out execution data (it holds the card token)."""

from typing import Any

import pytest

from saga_local.cloudformation import template as cfn


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return cfn.translate(cfn.load())["Resources"]


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found = {name: r.get("Properties", {}) for name, r in resources.items() if r["Type"] == kind}
    assert found, f"no {kind} in the template"
    return found


def _customer_key(resources: dict[str, Any], reference: Any) -> str:
    """The logical id of the template's own KMS key that `reference` (Ref or GetAtt Arn) points to."""
    assert isinstance(reference, dict), f"{reference!r}: not a key of this template"
    logical_id = reference.get("Ref") or reference.get("Fn::GetAtt", [None])[0]
    assert resources.get(logical_id, {}).get("Type") == "AWS::KMS::Key", reference
    return str(logical_id)


def test_every_table_is_encrypted_with_a_customer_managed_key(resources: dict[str, Any]) -> None:
    for name, props in _of_type(resources, "AWS::DynamoDB::Table").items():
        sse = props.get("SSESpecification", {})
        assert (sse.get("SSEEnabled"), sse.get("SSEType")) == (True, "KMS"), name
        _customer_key(resources, sse.get("KMSMasterKeyId"))


def test_every_queue_is_encrypted_with_a_customer_managed_key(resources: dict[str, Any]) -> None:
    for name, props in _of_type(resources, "AWS::SQS::Queue").items():
        _customer_key(resources, props.get("KmsMasterKeyId"))
        assert not props.get("SqsManagedSseEnabled"), name


def test_every_topic_is_encrypted(resources: dict[str, Any]) -> None:
    for name, props in _of_type(resources, "AWS::SNS::Topic").items():
        key = props.get("KmsMasterKeyId")
        # The AWS managed SNS key is enough where no AWS service must publish with it (CloudWatch alarms must).
        assert key == "alias/aws/sns" or _customer_key(resources, key), name


def test_the_alarm_topic_uses_a_key_cloudwatch_may_use(resources: dict[str, Any]) -> None:
    key = _customer_key(resources, resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"])
    principals = [s["Principal"] for s in resources[key]["Properties"]["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals


def test_every_log_group_is_encrypted_with_a_customer_managed_key(resources: dict[str, Any]) -> None:
    for props in _of_type(resources, "AWS::Logs::LogGroup").values():
        _customer_key(resources, props.get("KmsKeyId"))


def test_every_key_rotates_and_lets_its_services_encrypt(resources: dict[str, Any]) -> None:
    keys = _of_type(resources, "AWS::KMS::Key")
    for name, props in keys.items():
        assert props.get("EnableKeyRotation") is True, name
    policy = str(keys["DataKey"]["KeyPolicy"])
    for needed in ("dynamodb.${AWS::Region}.amazonaws.com", "sqs.${AWS::Region}.amazonaws.com",
                   "sns.amazonaws.com", "logs.${AWS::Region}.amazonaws.com"):  # fmt: skip
        assert needed in policy, needed


def test_the_state_machine_logs_errors_without_execution_data(resources: dict[str, Any]) -> None:
    (props,) = _of_type(resources, "AWS::StepFunctions::StateMachine").values()
    logging = props["LoggingConfiguration"]
    assert logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    _customer_key(resources, resources[log_group]["Properties"]["KmsKeyId"])
