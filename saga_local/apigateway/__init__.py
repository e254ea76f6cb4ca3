"""API Gateway (REST): the stage served from the OpenAPI document, as API Gateway would serve it.

`routes` reads the document's paths, methods and integrations; `server` routes requests, verifies AWS_IAM
signatures (`sigv4`, against the principals of `callers`: the IAM users and role session the stack hands out),
checks API keys, validates bodies and parameters (`validation`), renders mapping templates (`vtl`: Velocity with
`$input`, `$util`, `$context`, `responseOverride`), calls the integration on the local endpoint with the
integration role's session, selects the integration response, answers gateway responses, and writes one access
log record per request (`access`: the order it was about); `serving` is the threaded HTTP server and the stage's
throttle. This module reads the `x-amazon-apigateway-integration` of an operation, its CloudFormation intrinsics
resolved by saga_local.cloudformation.intrinsics (the resolver provisioning uses).

How it differs from AWS: `aws` integrations to Step Functions and DynamoDB, and `mock`, only; validation
messages are jsonschema's wording; usage plan quotas are not counted; throttling is one token bucket per stage.
"""

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
from saga_local.cloudformation.intrinsics import Resolver, UnresolvableError

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
    """Replace `Ref`, `Fn::GetAtt`, `Fn::Sub` (and the rest CloudFormation has) with their values, given as
    logical id -> value, `Id.Attribute` -> value, `AWS::Region` -> value; a name missing from `values` is
    a KeyError, as in the mapping."""
    try:
        return Resolver.from_values(values).resolve(node)
    except UnresolvableError as error:
        raise KeyError(str(error)) from None
