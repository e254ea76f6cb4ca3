"""API Gateway (REST) pieces that run without AWS: mapping templates (`vtl`), and the integrations of an
OpenAPI document with `x-amazon-apigateway-integration`, its CloudFormation intrinsics resolved."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from saga_local.apigateway.vtl import (
    MappingTemplateError,
    RenderResult,
    escape_javascript,
    render,
    render_gateway_response,
)

__all__ = [
    "Integration",
    "IntegrationResponse",
    "MappingTemplateError",
    "RenderResult",
    "escape_javascript",
    "load_integration",
    "load_openapi",
    "render",
    "render_gateway_response",
    "resolve_intrinsics",
    "select_integration_response",
]


@dataclass(frozen=True)
class IntegrationResponse:
    selection_pattern: str | None  # None: the `default` response
    status_code: int
    templates: dict[str, str]
    parameters: dict[str, str]


@dataclass(frozen=True)
class Integration:
    type: str
    http_method: str
    uri: str
    credentials: str | None
    passthrough_behavior: str
    request_templates: dict[str, str]
    responses: list[IntegrationResponse]


def load_openapi(path: Path) -> dict[str, Any]:
    """The document as AWS::Include reads it: plain YAML, intrinsics in long form only (a `!Sub` tag fails)."""
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def load_integration(document: Mapping[str, Any], path: str, method: str, values: Mapping[str, str]) -> Integration:
    """The integration of `method path`, with `Ref`/`Fn::GetAtt`/`Fn::Sub` resolved from `values`
    (logical id -> value, `Id.Attribute` -> value, `AWS::Region` -> value)."""
    operation = document["paths"][path][method.lower()]
    spec = resolve_intrinsics(operation["x-amazon-apigateway-integration"], values)
    responses = [
        IntegrationResponse(
            selection_pattern=None if pattern == "default" else pattern,
            status_code=int(response["statusCode"]),
            templates=dict(response.get("responseTemplates", {})),
            parameters=dict(response.get("responseParameters", {})),
        )
        for pattern, response in spec.get("responses", {}).items()
    ]
    return Integration(
        type=spec["type"].lower(),
        http_method=spec.get("httpMethod", method).upper(),
        uri=spec.get("uri", ""),  # a mock integration has none
        credentials=spec.get("credentials"),
        passthrough_behavior=spec.get("passthroughBehavior", "when_no_match").lower(),
        request_templates=dict(spec.get("requestTemplates", {})),
        responses=responses,
    )


def select_integration_response(
    responses: Sequence[IntegrationResponse], status_code: int
) -> IntegrationResponse | None:
    """API Gateway's choice for `aws` and `http` integrations: the first selection pattern that matches the
    whole status code, else the default response; None when neither exists (API Gateway answers 500)."""
    for response in responses:
        if response.selection_pattern is not None and re.fullmatch(response.selection_pattern, str(status_code)):
            return response
    return next((response for response in responses if response.selection_pattern is None), None)


def resolve_intrinsics(node: Any, values: Mapping[str, str]) -> Any:
    """Replace `Ref`, `Fn::GetAtt` and `Fn::Sub` with their values; a name missing from `values` is a KeyError."""
    if isinstance(node, list):
        return [resolve_intrinsics(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, argument),) = node.items()
        if key == "Ref":
            return _value(values, argument)
        if key == "Fn::GetAtt":
            name = ".".join(argument) if isinstance(argument, list) else argument
            return _value(values, name)
        if key == "Fn::Sub":
            return _substitute(argument, values)
    return {key: resolve_intrinsics(value, values) for key, value in node.items()}


def _substitute(argument: str | list[Any], values: Mapping[str, str]) -> str:
    if isinstance(argument, list):
        text, local = argument[0], {**values, **resolve_intrinsics(argument[1], values)}
    else:
        text, local = argument, values

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        return "${" + name[1:] + "}" if name.startswith("!") else _value(local, name)

    return re.sub(r"\$\{([^}]+)\}", variable, text)


def _value(values: Mapping[str, str], name: str) -> str:
    try:
        return values[name]
    except KeyError:
        raise KeyError(f"no value given for {name!r}") from None
