"""Read template.yaml: CloudFormation YAML with its short-form intrinsics (!Ref, !GetAtt, !Sub, ...)."""

import copy
import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Name value` into the long form `{"Fn::Name": value}` (`!Ref` into `{"Ref": ...}`)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)  # YAML has no fourth kind of node
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=_CfnLoader)  # noqa: S506  # nosec B506  # a SafeLoader subclass


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def create_table_request(properties: dict[str, Any], table_name: str) -> dict[str, Any]:
    """The CreateTable request for an AWS::DynamoDB::Table's properties (keys, indexes, stream, billing)."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
        if key in properties:
            request[key] = properties[key]
    if "StreamSpecification" in request:
        request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
    if "SSESpecification" in properties:
        request["SSESpecification"] = {"Enabled": properties["SSESpecification"].get("SSEEnabled", False)}
    return request


def resolve_includes(node: Any, base: Path = ROOT) -> Any:
    """Replace each `Fn::Transform: AWS::Include` with the included document, as CloudFormation does."""
    if isinstance(node, dict):
        transform = node.get("Fn::Transform")
        if isinstance(transform, dict) and transform.get("Name") == "AWS::Include" and len(node) == 1:
            return load(base / transform["Parameters"]["Location"])
        return {key: resolve_includes(value, base) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_includes(value, base) for value in node]
    return node


_LOCAL_PATHS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


def packaged(template: dict[str, Any], bucket: str = "local-artifacts") -> dict[str, Any]:
    """What `sam package` makes of the template: local code paths become S3 locations, except the
    state machine's definition, which is inlined so the translated template carries the real ASL."""
    result = resolve_includes(copy.deepcopy(template))
    for resource in result["Resources"].values():
        key = _LOCAL_PATHS.get(resource["Type"])
        path = resource.get("Properties", {}).get(key)
        if not isinstance(path, str) or path.startswith("s3://"):
            continue
        if key == "DefinitionUri":
            with open(ROOT / path, encoding="utf-8") as definition:
                resource["Properties"]["Definition"] = json.load(definition)
            del resource["Properties"]["DefinitionUri"]
        else:
            resource["Properties"][key] = f"s3://{bucket}/{path}"
    return result


def translate(
    template: dict[str, Any], parameters: dict[str, Any] | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """The CloudFormation that `sam deploy` would submit: packaged, then the SAM transform applied.
    Offline: the template names no AWS managed policy, so no IAM lookup is needed."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=region))
    return translator.translate(
        packaged(template),
        parameter_values={"AWS::Region": region, "AWS::AccountId": "123456789012", **(parameters or {})},
        get_managed_policy_map=dict,
    )
