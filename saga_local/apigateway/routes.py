"""The routes of an OpenAPI document as API Gateway imports it: paths, methods, API keys, validators and
integrations. A feature the emulator does not have stops it from starting (UnsupportedDefinition)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from saga_local.apigateway import Integration, load_integration
from saga_local.apigateway.validation import BodyValidator, operation_parameters

DEFAULT_TIMEOUT_MS = 29_000
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method"}
# The AWS JSON-protocol services an `aws` integration may call: endpoint prefix -> X-Amz-Target prefix.
JSON_SERVICES = {"states": "AWSStepFunctions", "dynamodb": "DynamoDB_20120810"}
_ACTION_URI = re.compile(r"arn:[^:]+:apigateway:[^:]*:(?:[^:.]+\.)?([^:.]+):action/(\w+)")


class UnsupportedDefinition(ValueError):
    """The document uses an API Gateway feature this emulator does not have (it refuses to start)."""


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    resource_path: str  # as in the document: /orders/{orderId}
    pattern: re.Pattern[str]
    parameter_names: tuple[str, ...]
    rank: tuple[int, ...]  # API Gateway prefers a literal segment to {param}, and {param} to {proxy+}
    requires_api_key: bool
    iam_authorization: bool  # AWS_IAM: a SigV4 signature, and execute-api:Invoke on the route
    validate_parameters: bool
    validate_body: bool
    parameters: list[dict[str, Any]]
    body: BodyValidator
    integration: Integration
    service: str  # the integration's AWS service (endpoint prefix) and action
    action: str
    timeout_seconds: float


def load_routes(document: Mapping[str, Any]) -> list[Route]:
    validators = document.get("x-amazon-apigateway-request-validators", {})
    default_validator = document.get("x-amazon-apigateway-request-validator")
    routes = []
    for resource_path, path_item in document.get("paths", {}).items():
        pattern, names, rank = _compile_path(resource_path)
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue  # parameters, summary, ...
            where = f"{method.upper()} {resource_path}"
            raw = operation.get("x-amazon-apigateway-integration")
            if raw is None:
                raise UnsupportedDefinition(f"{where}: no x-amazon-apigateway-integration")
            integration = load_integration(document, resource_path, method, {})
            if integration.type == "mock":
                service, action = "", ""  # API Gateway answers itself
            elif integration.type == "aws":
                target = _ACTION_URI.fullmatch(integration.uri)
                if target is None or target[1] not in JSON_SERVICES:
                    services = ", ".join(sorted(JSON_SERVICES))
                    raise UnsupportedDefinition(
                        f"{where}: integration uri {integration.uri!r} (only {services} actions)"
                    )
                service, action = target[1], target[2]
            else:
                raise UnsupportedDefinition(f"{where}: integration type {integration.type!r} (only aws and mock)")
            validator_name = operation.get("x-amazon-apigateway-request-validator", default_validator)
            if validator_name and validator_name not in validators:
                raise UnsupportedDefinition(f"{where}: request validator {validator_name!r} is not defined")
            validator = validators.get(validator_name, {})
            routes.append(
                Route(
                    method="ANY" if method == "x-amazon-apigateway-any-method" else method.upper(),
                    resource_path=resource_path,
                    pattern=pattern,
                    parameter_names=names,
                    rank=rank,
                    requires_api_key=_requires_api_key(document, operation, where),
                    iam_authorization=_uses_iam(document, operation),
                    validate_parameters=bool(validator.get("validateRequestParameters")),
                    validate_body=bool(validator.get("validateRequestBody")),
                    parameters=operation_parameters(document, resource_path, method),
                    body=BodyValidator(document, resource_path, method),
                    integration=integration,
                    service=service,
                    action=action,
                    timeout_seconds=int(raw.get("timeoutInMillis", DEFAULT_TIMEOUT_MS)) / 1000,
                )
            )
    # API Gateway picks the resource, then the method on it: an explicit method before ANY.
    return sorted(routes, key=lambda route: (route.rank, route.method == "ANY"))


def _compile_path(resource_path: str) -> tuple[re.Pattern[str], tuple[str, ...], tuple[int, ...]]:
    """The path's regex, its parameter names, and its rank: literal (0) before {param} (1) before {proxy+} (2)."""
    regex, names, rank = "", [], []
    for part in filter(None, resource_path.split("/")):
        parameter = re.fullmatch(r"\{([^}+]+)(\+?)\}", part)
        if parameter is None:
            regex += "/" + re.escape(part)
            rank.append(0)
        else:
            greedy = parameter[2] == "+"
            regex += "/(.+)" if greedy else "/([^/]+)"
            rank.append(2 if greedy else 1)
            names.append(parameter[1])
    return re.compile(regex or "/"), tuple(names), tuple(rank)


def _requires_api_key(document: Mapping[str, Any], operation: Mapping[str, Any], where: str) -> bool:
    """API Gateway's importer sets apiKeyRequired for an `apiKey` scheme named x-api-key in the header."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    required = False
    for requirement in operation.get("security", document.get("security", [])):
        for name in requirement:
            scheme = schemes.get(name, {})
            if _is_sigv4(scheme):
                continue
            if scheme.get("type") != "apiKey" or "x-amazon-apigateway-authorizer" in scheme:
                raise UnsupportedDefinition(
                    f"{where}: security scheme {name!r} (only API keys and awsSigv4 are emulated)"
                )
            required = required or (scheme.get("in") == "header" and scheme.get("name", "").lower() == "x-api-key")
    if required and document.get("x-amazon-apigateway-api-key-source", "HEADER") != "HEADER":
        raise UnsupportedDefinition("x-amazon-apigateway-api-key-source: only HEADER is emulated")
    return required


def _uses_iam(document: Mapping[str, Any], operation: Mapping[str, Any]) -> bool:
    """The importer sets authorizationType AWS_IAM for a scheme with `x-amazon-apigateway-authtype: awsSigv4`."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    requirements = operation.get("security", document.get("security", []))
    return any(_is_sigv4(schemes.get(name, {})) for requirement in requirements for name in requirement)


def _is_sigv4(scheme: Mapping[str, Any]) -> bool:
    return str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4"


# ---------------------------------------------------------------------------------------------- one request
