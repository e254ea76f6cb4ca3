"""The building blocks of saga_local's patch tests: moto with its Step Functions interpreter, a Lambda runner made of
Python callables, and helpers for a patched moto server's streams and for Tasks invoking a function."""

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any, Literal, cast

import boto3

from saga_local.awslambda.invoke_hook import LambdaTarget, lambda_error
from tests.support.aws import REGION


class OutOfStock(Exception):
    """A business error, as the saga's functions raise them: Step Functions must see this class name."""


class Behaviour:
    """A runner whose functions are Python callables: name -> fn(event) -> payload (or raise)."""

    def __init__(self, **functions: Callable[[Any], Any]) -> None:
        self.functions = functions
        self.calls: list[tuple[LambdaTarget, Any]] = []

    def __call__(self, target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        self.calls.append((target, event))
        try:
            return self.functions[target.name](event), None
        except Exception as exc:
            return None, lambda_error(exc)


MachineType = Literal["EXPRESS", "STANDARD"]  # what create_state_machine takes as `type`


class Local:
    """moto with its Step Functions interpreter: clients, a role, and helpers to add functions and machines."""

    def __init__(self) -> None:
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.role_arn = boto3.client("iam", region_name=REGION).create_role(
            RoleName="gaps", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]

    def function(self, name: str) -> str:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", "")
        return self.lambda_.create_function(
            FunctionName=name, Runtime="python3.13", Role=self.role_arn, Handler="app.handler",
            Code={"ZipFile": buffer.getvalue()}, Timeout=7, MemorySize=256,
        )["FunctionArn"]  # fmt: skip

    def machine(self, states: dict[str, Any], machine_type: MachineType = "EXPRESS", **top: Any) -> str:
        definition = {"StartAt": next(iter(states)), "States": states, **top}
        return self.sfn.create_state_machine(
            name=f"m{len(self.sfn.list_state_machines()['stateMachines'])}", definition=json.dumps(definition),
            roleArn=self.role_arn, type=machine_type,
        )["stateMachineArn"]  # fmt: skip

    def run(self, machine_arn: str, execution_input: Any = None) -> dict[str, Any]:
        result = self.sfn.start_sync_execution(stateMachineArn=machine_arn, input=json.dumps(execution_input or {}))
        return cast(dict[str, Any], result)  # the TypedDict, read as the plain dict the tests index


def client(service: str, endpoint: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]  # dynamic service name: boto3-stubs type literal names only
        service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s"
    )


def streamed_table(endpoint: str, name: str) -> tuple[Any, str]:
    dynamodb = client("dynamodb", endpoint)
    stream_arn = dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk")],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]  # fmt: skip
    return dynamodb, stream_arn


def stream_events(endpoint: str, stream_arn: str) -> list[str]:
    streams = client("dynamodbstreams", endpoint)
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [f"{r['eventName']} {r['dynamodb']['Keys']['sk']['S']}" for r in records]


def lambda_task(arn: str, style: str, **state: Any) -> dict[str, Any]:
    """A Task invoking `arn` with the state input, in either of the two ways ASL can."""
    if style == "function ARN":
        return {"Type": "Task", "Resource": arn, **state}
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": arn, "Payload.$": "$"}, "ResultSelector": {"value.$": "$.Payload"},
            **state}  # fmt: skip
