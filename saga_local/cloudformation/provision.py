"""Create every resource of template.yaml on the local endpoint, from the template itself.

The SAM template is packaged and translated exactly as `sam deploy` would (saga_local.cloudformation.template), then
each CloudFormation resource is created in dependency order by a handler for its *type*. Nothing here
names this application's resources: add a table or a function to the template and it appears locally.
Types moto cannot run (Lambda code, stream event source mappings, REST APIs) become specs for the
local runtime, stream poller and API emulator instead.
"""

import functools
import hashlib
import io
import json
import re
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saga_local.cloudformation import template as cfn
from saga_local.cloudformation.intrinsics import NO_VALUE, Resolver
from saga_local.cloudformation.specs import EventSourceMappingSpec, FunctionSpec, RestApiSpec, ScheduleSpec

ARTIFACT_BUCKET = "local-artifacts"
BOOTSTRAP_TEMPLATE = cfn.ROOT / "bootstrap" / "account.yaml"
# API Gateway's refusal of a stage with access logging on an account with no CloudWatch Logs role.
NO_CLOUDWATCH_ROLE = "CloudWatch Logs role ARN must be set in account settings to enable logging"


class ProvisionError(Exception):
    """A resource CloudFormation would fail to create (CREATE_FAILED), with the service's message."""

    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(f"{logical_id} ({resource_type}) CREATE_FAILED: {reason}")
        self.logical_id, self.resource_type, self.reason = logical_id, resource_type, reason


@dataclass
class Stack:
    """What was created: Ref values, attributes, outputs, and the specs for the emulators."""

    name: str
    region: str
    account_id: str
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    functions: list[FunctionSpec] = field(default_factory=list)
    mappings: list[EventSourceMappingSpec] = field(default_factory=list)
    apis: list[RestApiSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> why

    def attribute(self, logical_id: str, name: str) -> Any:
        try:
            return self.attributes[(logical_id, name)]
        except KeyError:
            raise KeyError(f"Fn::GetAtt {logical_id}.{name}: not created or not known locally") from None


Clients = Callable[[str], Any]  # service name -> boto3 client on the local endpoint


def provision(
    clients: Clients,
    *,
    stack_name: str,
    region: str = "us-east-1",
    account_id: str = "123456789012",
    parameters: dict[str, str] | None = None,
    sam_template: dict[str, Any] | None = None,
) -> Stack:
    """Create `sam_template` (template.yaml by default; a template without the SAM transform is taken as it is)
    on the local endpoint. Raises ProvisionError where CloudFormation would fail the stack."""
    sam = sam_template if sam_template is not None else cfn.load()
    translated = cfn.translate(sam, {"AWS::StackName": stack_name}) if "Transform" in sam else sam
    stack = Stack(stack_name, region, account_id)
    stack.refs.update(_parameter_values(translated, parameters or {}))
    stack.refs.update({
        "AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": account_id,
        "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
    })  # fmt: skip
    resolver = Resolver(refs=stack.refs, attribute=stack.attribute, conditions=translated.get("Conditions"))
    creator = _Creator(clients, stack, resolver)
    for logical_id in _creation_order(translated["Resources"]):
        resource = translated["Resources"][logical_id]
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            stack.skipped[logical_id] = f"condition {resource['Condition']} is false"
            continue
        creator.create(logical_id, resource)
    for name, output in translated.get("Outputs", {}).items():
        if "Condition" not in output or resolver.condition(output["Condition"]):
            stack.outputs[name] = resolver.resolve(output["Value"])
    return stack


def bootstrap(
    clients: Clients,
    *,
    region: str = "us-east-1",
    account_id: str = "123456789012",
    stack_name: str = "order-saga-account",
) -> Stack:
    """What `make bootstrap` deploys once per account and region before the first stack: bootstrap/account.yaml
    (API Gateway's CloudWatch Logs role, without which a stage with access logging fails)."""
    return provision(clients, stack_name=stack_name, region=region, account_id=account_id,
                     sam_template=cfn.load(BOOTSTRAP_TEMPLATE))  # fmt: skip


def _parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    values = {}
    for name, parameter in template.get("Parameters", {}).items():
        value = given.get(name, parameter.get("Default"))
        if value is None:
            raise ValueError(f"parameter {name} has no default: pass it")
        values[name] = int(value) if parameter.get("Type") == "Number" else value
    return values


def _references(node: Any) -> set[str]:
    """Logical ids a node depends on (Ref, Fn::GetAtt, ${X} and ${X.Attr} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", text)}
                if not isinstance(value, str):
                    found |= _references(value[1])
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def _creation_order(resources: dict[str, Any]) -> list[str]:
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(logical_id: str) -> None:
        if state.get(logical_id) == "done":
            return
        if state.get(logical_id) == "visiting":
            raise ValueError(f"circular dependency through {logical_id}")
        state[logical_id] = "visiting"
        resource = resources[logical_id]
        depends = resource.get("DependsOn", [])
        for dependency in sorted(_references(resource) | set([depends] if isinstance(depends, str) else depends)):
            if dependency in resources:
                visit(dependency)
        state[logical_id] = "done"
        order.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return order


def _stable_id(*parts: str, length: int = 10) -> str:
    """Ids that stay the same across restarts of the local stack (CloudFormation's are random)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Code runs from the repository through saga_local.awslambda.runtime.")
    return buffer.getvalue()


def _aws_managed_policy(arn: str) -> bool:
    """An AWS managed policy IAM has (arn:<partition>:iam::aws:policy/...); an unknown one fails as IAM fails it."""
    prefix, _, name = arn.rpartition("/")
    if ":iam::aws:policy" not in prefix:
        return False
    if name not in _aws_managed_policy_names():
        raise ValueError(f"Policy {arn} does not exist or is not attachable.")
    return True


@functools.cache
def _aws_managed_policy_names() -> frozenset[str]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return frozenset(json.loads(aws_managed_policies_data))


def _policy(document: dict[str, Any]) -> str:
    """CloudFormation accepts a policy without a Version; IAM's API does not."""
    return json.dumps({"Version": "2012-10-17", **document})


def _stringify(attributes: dict[str, Any]) -> dict[str, str]:
    """SNS/SQS attributes are strings on the wire (booleans lower-case, documents as JSON)."""
    out = {}
    for key, value in attributes.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out


class _Creator:
    def __init__(self, clients: Clients, stack: Stack, resolver: Resolver) -> None:
        self.clients, self.stack, self.resolver = clients, stack, resolver
        self._api_keys: dict[str, str] = {}  # ApiKey logical id -> value
        self._layer_dirs: dict[str, Path] = {}  # layer version ARN -> source folder

    def create(self, logical_id: str, resource: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        kind = resource["Type"]
        handler = getattr(self, "_" + kind.replace("::", "_").lower(), None)
        if handler is None:
            self.stack.skipped[logical_id] = f"{kind} has no local equivalent"
            self.stack.refs[logical_id] = f"{self.stack.name}-{logical_id}"
            return
        try:
            handler(logical_id, self.resolver.resolve(resource.get("Properties", {})))
        except ClientError as error:  # the service refused: the resource fails, and the stack with it
            raise ProvisionError(logical_id, kind, error.response["Error"]["Message"]) from None

    def _physical_name(self, logical_id: str, suffix: str = "") -> str:
        return f"{self.stack.name}-{logical_id}{suffix}"

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.stack.region}:{self.stack.account_id}:{resource}"

    def _set(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self.stack.refs[logical_id] = ref
        for name, value in attributes.items():
            self.stack.attributes[(logical_id, name)] = value

    # -- DynamoDB
    def _aws_dynamodb_table(self, logical_id: str, props: dict[str, Any]) -> None:
        dynamodb = self.clients("dynamodb")
        name = props.get("TableName") or self._physical_name(logical_id)
        description = dynamodb.create_table(**cfn.create_table_request(props, name))["TableDescription"]
        if ttl := props.get("TimeToLiveSpecification"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        if (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        self._set(logical_id, name, Arn=description["TableArn"], StreamArn=description.get("LatestStreamArn"))

    # -- messaging
    def _aws_sns_topic(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("TopicName") or self._physical_name(logical_id, ".fifo" if props.get("FifoTopic") else "")
        names = ("FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId", "DisplayName")
        attributes: dict[str, Any] = {k: props[k] for k in names if k in props}
        arn = self.clients("sns").create_topic(Name=name, Attributes=_stringify(attributes))["TopicArn"]
        self._set(logical_id, arn, TopicArn=arn, TopicName=name)

    def _aws_sqs_queue(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("QueueName") or self._physical_name(logical_id, ".fifo" if props.get("FifoQueue") else "")
        attributes = {k: v for k, v in props.items() if k not in ("QueueName", "Tags")}
        sqs = self.clients("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=_stringify(attributes))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._set(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)

    def _aws_sqs_queuepolicy(self, logical_id: str, props: dict[str, Any]) -> None:
        for url in props["Queues"]:
            self.clients("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )
        self._set(logical_id, self._physical_name(logical_id))

    def _aws_sns_subscription(self, logical_id: str, props: dict[str, Any]) -> None:
        if props["Protocol"] in ("email", "email-json", "sms", "http", "https"):
            self.stack.skipped[logical_id] = f"{props['Protocol']} subscriptions cannot be delivered locally"
            self._set(logical_id, self._physical_name(logical_id))
            return
        names = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy")
        attributes: dict[str, Any] = {k: props[k] for k in names if k in props}
        arn = self.clients("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"],
            Attributes=_stringify(attributes), ReturnSubscriptionArn=True,
        )["SubscriptionArn"]  # fmt: skip
        self._set(logical_id, arn)

    # -- identity and keys
    def _aws_iam_role(self, logical_id: str, props: dict[str, Any]) -> None:
        iam = self.clients("iam")
        name = props.get("RoleName") or self._physical_name(logical_id)[:64]
        arn = iam.create_role(
            RoleName=name, Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=_policy(props["AssumeRolePolicyDocument"]),
        )["Role"]["Arn"]  # fmt: skip
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=_policy(policy["PolicyDocument"])
            )
        for policy_arn in props.get("ManagedPolicyArns", []):  # SAM's AWSLambdaBasicExecutionRole, X-Ray, ...
            _aws_managed_policy(policy_arn)  # an AWS managed policy that does not exist fails as IAM fails it
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
            except iam.exceptions.NoSuchEntityException:
                # moto knows AWS managed policies only when told to load them (the stack does).
                self.stack.skipped[f"{logical_id} {policy_arn}"] = "managed policy not known to the endpoint"
        self._set(logical_id, name, Arn=arn, RoleId=f"AROA{_stable_id(name, length=17).upper()}")

    def _aws_iam_managedpolicy(self, logical_id: str, props: dict[str, Any]) -> None:
        iam = self.clients("iam")
        name = props.get("ManagedPolicyName") or self._physical_name(logical_id)[:128]
        arn = iam.create_policy(PolicyName=name, PolicyDocument=_policy(props["PolicyDocument"]))["Policy"]["Arn"]
        for role in props.get("Roles", []):
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        self._set(logical_id, arn, PolicyArn=arn)

    def _aws_kms_key(self, logical_id: str, props: dict[str, Any]) -> None:
        key = self.clients("kms").create_key(
            Description=props.get("Description", ""), Policy=json.dumps(props.get("KeyPolicy", {}))
        )["KeyMetadata"]
        self._set(logical_id, key["KeyId"], Arn=key["Arn"], KeyId=key["KeyId"])

    # -- observability
    def _aws_logs_loggroup(self, logical_id: str, props: dict[str, Any]) -> None:
        logs = self.clients("logs")
        name = props.get("LogGroupName") or self._physical_name(logical_id)
        logs.create_log_group(logGroupName=name)
        if retention := props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(retention))
        self._set(logical_id, name, Arn=self._arn("logs", f"log-group:{name}:*"))

    def _aws_cloudwatch_alarm(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("AlarmName") or self._physical_name(logical_id)
        request = {k: v for k, v in props.items() if k != "AlarmName"}
        for number in ("Period", "EvaluationPeriods", "Threshold"):
            if number in request:
                request[number] = float(request[number]) if number == "Threshold" else int(request[number])
        self.clients("cloudwatch").put_metric_alarm(AlarmName=name, **request)
        self._set(logical_id, name, Arn=self._arn("cloudwatch", f"alarm:{name}"))

    # -- compute
    def _aws_lambda_layerversion(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("LayerName") or self._physical_name(logical_id)
        arn = self._arn("lambda", f"layer:{name}:1")
        self._layer_dirs[arn] = self._local_code(props["Content"])
        self._set(logical_id, arn, LayerVersionArn=arn)

    def _local_code(self, code: dict[str, Any]) -> Path:
        if code.get("S3Bucket") != ARTIFACT_BUCKET:
            raise ValueError(f"code at {code} is not in this repository")
        return cfn.ROOT / code["S3Key"]

    def _aws_lambda_function(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("FunctionName") or self._physical_name(logical_id)[:64]
        environment = {k: str(v) for k, v in (props.get("Environment") or {}).get("Variables", {}).items()}
        self.clients("lambda").create_function(
            FunctionName=name, Runtime=props["Runtime"], Role=props["Role"],
            Handler=props["Handler"], Code={"ZipFile": _dummy_zip()}, Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)), Environment={"Variables": environment},
            Architectures=props.get("Architectures", ["x86_64"]),
            TracingConfig=props.get("TracingConfig", {"Mode": "PassThrough"}),
        )  # fmt: skip
        if (reserved := props.get("ReservedConcurrentExecutions")) is not None:  # as CloudFormation: a second call
            self.clients("lambda").put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(reserved)
            )
        arn = self._arn("lambda", f"function:{name}")
        self.stack.functions.append(FunctionSpec(
            logical_id=logical_id, name=name, arn=arn, code_dir=self._local_code(props["Code"]),
            handler=props["Handler"], layer_dirs=tuple(self._layer_dirs[layer] for layer in props.get("Layers", [])),
            environment=environment, timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)), runtime=props["Runtime"],
            tracing_active=props.get("TracingConfig", {}).get("Mode") == "Active",
            reserved_concurrency=props.get("ReservedConcurrentExecutions"), role_arn=props["Role"],
        ))  # fmt: skip
        self._set(logical_id, name, Arn=arn)

    def _aws_lambda_permission(self, logical_id: str, props: dict[str, Any]) -> None:
        self._set(logical_id, self._physical_name(logical_id))  # who may invoke is not enforced locally

    def _aws_lambda_eventsourcemapping(self, logical_id: str, props: dict[str, Any]) -> None:
        uuid = _stable_id(self.stack.name, logical_id, length=32)
        uuid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
        if ":dynamodb:" not in props["EventSourceArn"]:
            self.stack.skipped[logical_id] = "only DynamoDB stream mappings are emulated"
            self._set(logical_id, uuid)
            return
        function = props["FunctionName"]
        filters = (props.get("FilterCriteria") or {}).get("Filters", [])
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self.stack.mappings.append(EventSourceMappingSpec(
            logical_id=logical_id, uuid=uuid,
            function_name=function.rsplit(":", 1)[-1] if function.startswith("arn:") else function,
            stream_arn=props["EventSourceArn"], starting_position=props.get("StartingPosition", "TRIM_HORIZON"),
            batch_size=int(props.get("BatchSize", 100)),
            maximum_batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
            filter_patterns=tuple(json.loads(f["Pattern"]) for f in filters),
            bisect_batch_on_function_error=bool(props.get("BisectBatchOnFunctionError", False)),
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            maximum_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
            report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            on_failure_destination_arn=on_failure,
            enabled=bool(props.get("Enabled", True)),
        ))  # fmt: skip
        self._set(logical_id, uuid)

    def _aws_stepfunctions_statemachine(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("StateMachineName") or self._physical_name(logical_id)
        definition = json.dumps(props["Definition"]) if "Definition" in props else props["DefinitionString"]
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        request: dict[str, Any] = {
            "name": name, "definition": definition, "roleArn": props["RoleArn"],
            "type": props.get("StateMachineType", "STANDARD"),
        }  # fmt: skip
        if tracing := props.get("TracingConfiguration"):
            request["tracingConfiguration"] = {"enabled": bool(tracing.get("Enabled"))}
        arn = self.clients("stepfunctions").create_state_machine(**request)["stateMachineArn"]
        self._set(logical_id, arn, Arn=arn, Name=name, StateMachineRevisionId="local")

    # -- schedules: run by saga_local.scheduler through the Lambda runtime
    def _aws_scheduler_schedule(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or self._physical_name(logical_id)
        target = props["Target"]
        self._add_schedule(logical_id, name, props["ScheduleExpression"], target["Arn"], target.get("Input"),
                           props.get("State", "ENABLED") == "ENABLED")  # fmt: skip
        self._set(logical_id, name, Arn=self._arn("scheduler", f"schedule/default/{name}"))

    def _aws_events_rule(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or self._physical_name(logical_id)
        self._set(logical_id, name, Arn=self._arn("events", f"rule/{name}"))
        if "ScheduleExpression" not in props:
            self.stack.skipped[logical_id] = "only scheduled rules are emulated"
            return
        for target in props.get("Targets", []):
            self._add_schedule(logical_id, name, props["ScheduleExpression"], target["Arn"], target.get("Input"),
                               props.get("State", "ENABLED") == "ENABLED")  # fmt: skip

    def _add_schedule(self, logical_id: str, name: str, expression: str, arn: str, event: Any, on: bool) -> None:
        if ":lambda:" not in arn:
            self.stack.skipped[logical_id] = "only schedules that invoke a Lambda function are emulated"
            return
        self.stack.schedules.append(ScheduleSpec(logical_id, name, expression, arn, event, on))

    # -- API Gateway: served by saga_local.apigateway from the definition
    def _aws_apigateway_restapi(self, logical_id: str, props: dict[str, Any]) -> None:
        api_id = _stable_id(self.stack.name, logical_id)
        self.stack.apis.append(RestApiSpec(logical_id=logical_id, api_id=api_id, definition=props["Body"], stage=""))
        self._set(logical_id, api_id, RootResourceId=api_id[:6])

    def _replace_api(self, api_id: str, **changes: Any) -> None:
        from dataclasses import replace

        self.stack.apis = [replace(a, **changes) if a.api_id == api_id else a for a in self.stack.apis]

    def _api(self, api_id: str) -> RestApiSpec:
        return next(a for a in self.stack.apis if a.api_id == api_id)

    def _aws_apigateway_deployment(self, logical_id: str, props: dict[str, Any]) -> None:
        self._set(logical_id, secrets.token_hex(5))

    def _aws_apigateway_stage(self, logical_id: str, props: dict[str, Any]) -> None:
        if props.get("AccessLogSetting") and not self.clients("apigateway").get_account().get("cloudwatchRoleArn"):
            raise ProvisionError(logical_id, "AWS::ApiGateway::Stage", NO_CLOUDWATCH_ROLE)
        settings: dict[str, Any] = next(iter(props.get("MethodSettings", [])), {})
        self._replace_api(
            props["RestApiId"], stage=props["StageName"], tracing_enabled=bool(props.get("TracingEnabled")),
            throttle_rate=settings.get("ThrottlingRateLimit"), throttle_burst=settings.get("ThrottlingBurstLimit"),
        )  # fmt: skip
        self._set(logical_id, props["StageName"])

    def _aws_apigateway_account(self, logical_id: str, props: dict[str, Any]) -> None:
        """The region's one setting: the role API Gateway writes CloudWatch logs with (bootstrap/account.yaml)."""
        role_arn = props.get("CloudWatchRoleArn") or ""
        self.clients("apigateway").update_account(
            patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}]
        )
        self._set(logical_id, _stable_id(self.stack.name, logical_id))

    def _aws_apigateway_apikey(self, logical_id: str, props: dict[str, Any]) -> None:
        key_id = secrets.token_hex(5)
        value = props.get("Value") or secrets.token_urlsafe(30)
        self._api_keys[key_id] = value
        self._set(logical_id, key_id, APIKeyId=key_id)
        self.stack.attributes[(logical_id, "Value")] = value  # not a CloudFormation attribute: for .local/outputs.json

    def _aws_apigateway_usageplan(self, logical_id: str, props: dict[str, Any]) -> None:
        self._set(logical_id, secrets.token_hex(5))
        throttle = props.get("Throttle") or {}
        for stage in props.get("ApiStages", []):
            api = self._api(stage["ApiId"])
            self._replace_api(api.api_id, extra={**api.extra, "usage_plan": logical_id, "plan_throttle": throttle})

    def _aws_apigateway_usageplankey(self, logical_id: str, props: dict[str, Any]) -> None:
        value = self._api_keys[props["KeyId"]]
        for api in self.stack.apis:
            if api.extra.get("usage_plan") and self.stack.refs.get(api.extra["usage_plan"]) == props["UsagePlanId"]:
                self._replace_api(api.api_id, api_keys=(*api.api_keys, value))
        self._set(logical_id, props["KeyId"])
