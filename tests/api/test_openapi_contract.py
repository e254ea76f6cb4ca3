"""api/openapi.yaml as a contract: valid OpenAPI 3.0, API keys everywhere, request validation that names the
field, problem+json for API Gateway's own errors, and integrations that point at the template's resources."""

import copy
import json
import re
from typing import Any

import pytest
from jsonschema import Draft4Validator
from openapi_spec_validator import validate

from saga_local.apigateway import load_openapi, render, render_gateway_response
from saga_local.cloudformation import template as cfn
from tests.support.events import read_event
from tests.support.paths import ROOT

OPERATIONS = [("/orders", "post"), ("/orders/{orderId}", "get")]
ANY_METHOD = "x-amazon-apigateway-any-method"  # every other method of a resource: 405
ALLOWED = {"/orders": "POST", "/orders/{orderId}": "GET"}
# Every type API Gateway defines (GatewayResponse.responseType); anything else fails the import.
GATEWAY_RESPONSE_TYPES = {
    "ACCESS_DENIED", "API_CONFIGURATION_ERROR", "AUTHORIZER_CONFIGURATION_ERROR", "AUTHORIZER_FAILURE",
    "BAD_REQUEST_PARAMETERS", "BAD_REQUEST_BODY", "DEFAULT_4XX", "DEFAULT_5XX", "EXPIRED_TOKEN",
    "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT", "INVALID_API_KEY", "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN", "QUOTA_EXCEEDED", "REQUEST_TOO_LARGE", "RESOURCE_NOT_FOUND", "THROTTLED",
    "UNAUTHORIZED", "UNSUPPORTED_MEDIA_TYPE", "WAF_FILTERED",
}  # fmt: skip


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_openapi(ROOT / "api" / "openapi.yaml")


@pytest.fixture(scope="module")
def order_request(document: dict[str, Any]) -> Draft4Validator:
    """The OrderRequest model as API Gateway validates it: JSON Schema draft 4."""
    schema = document["components"]["schemas"]["OrderRequest"]
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def _sample_body() -> dict[str, Any]:
    return json.loads(read_event("api-post-order.json")["body"])


def _operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return document["paths"][path][method]


def _header(operation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in operation["parameters"] if p["in"] == "header" and p["name"] == name)


# ---------------------------------------------------------------------------------------------- the document


def test_is_a_valid_openapi_3_0_document(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.0.")  # API Gateway imports 3.0, not 3.1
    validate(document)


def test_uses_only_long_form_intrinsics_which_aws_include_understands() -> None:
    text = (ROOT / "api" / "openapi.yaml").read_text(encoding="utf-8")
    assert not re.search(r"(^|\s)!(Sub|GetAtt|Ref|Join|If)\b", text)


def test_every_operation_requires_a_sigv4_signature_and_the_api_key_from_the_header(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["api_key"]
    assert scheme == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert document["x-amazon-apigateway-api-key-source"] == "HEADER"
    operations = [(path, method) for path, item in document["paths"].items() for method in item]
    assert sorted(operations) == sorted([*OPERATIONS, *((path, ANY_METHOD) for path in ALLOWED)])
    for path, method in operations:
        assert _operation(document, path, method)["security"] == [{"sigv4": [], "api_key": []}], (method, path)


def test_every_operation_validates_body_and_parameters(document: dict[str, Any]) -> None:
    validators = document["x-amazon-apigateway-request-validators"]
    default = document["x-amazon-apigateway-request-validator"]
    assert validators[default] == {"validateRequestBody": True, "validateRequestParameters": True}
    for path, method in OPERATIONS:
        name = _operation(document, path, method).get("x-amazon-apigateway-request-validator", default)
        assert validators[name] == validators[default]


def test_documents_every_status_the_mappings_can_answer(document: dict[str, Any]) -> None:
    post = _operation(document, "/orders", "post")["responses"]
    get = _operation(document, "/orders/{orderId}", "get")["responses"]
    assert {"201", "400", "402", "409", "422", "429", "500", "503", "504"} <= set(post)
    assert {"200", "400", "404"} <= set(get)
    assert "Location" in post["201"]["headers"]
    assert "Retry-After" in post["429"]["headers"]
    assert "Retry-After" in post["503"]["headers"]
    for responses in (post, get):
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], status


def test_each_integration_response_lands_on_a_declared_method_response(document: dict[str, Any]) -> None:
    for path, method in OPERATIONS:
        operation = _operation(document, path, method)
        for pattern, response in operation["x-amazon-apigateway-integration"]["responses"].items():
            assert response["statusCode"] in operation["responses"], (method, path, pattern)


@pytest.mark.parametrize("path", ALLOWED)
def test_any_other_method_is_405_with_allow_answered_by_api_gateway_itself(document: dict[str, Any], path: str) -> None:
    """Without an ANY method API Gateway answers MISSING_AUTHENTICATION_TOKEN, as if the resource did not exist."""
    operation = _operation(document, path, ANY_METHOD)
    assert operation["security"] == [{"sigv4": [], "api_key": []}]
    assert list(operation["responses"]) == ["405"]
    assert "Allow" in operation["responses"]["405"]["headers"]
    integration = operation["x-amazon-apigateway-integration"]
    # No request template: a mock integration then returns its default response for any body and Content-Type.
    assert (integration["type"], integration["passthroughBehavior"], integration.get("requestTemplates")) == (
        "mock",
        "when_no_match",
        None,
    )
    (response,) = integration["responses"].values()
    assert response["statusCode"] == "405"
    assert response["responseParameters"] == {"method.response.header.Allow": f"'{ALLOWED[path]}'"}
    body = render(response["responseTemplates"]["application/json"])
    assert body.header_overrides == {"Content-Type": "application/problem+json"}
    problem = json.loads(body.body)
    assert (problem["status"], problem["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert ALLOWED[path] in problem["detail"]
    assert problem["type"].endswith("/method-not-allowed")


# ---------------------------------------------------------------------------------------------- integrations


def test_post_starts_the_state_machine_synchronously_with_the_api_role(document: dict[str, Any]) -> None:
    integration = _operation(document, "/orders", "post")["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws"
    assert integration["httpMethod"] == "POST"
    assert integration["uri"] == {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:states:action/StartSyncExecution"
    }
    assert integration["credentials"] == {"Fn::GetAtt": ["ApiIntegrationRole", "Arn"]}
    assert "${OrderSagaStateMachine}" in integration["requestTemplates"]["application/json"]["Fn::Sub"]


def test_get_reads_the_orders_table_directly(document: dict[str, Any]) -> None:
    integration = _operation(document, "/orders/{orderId}", "get")["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws"
    assert integration["uri"] == {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:dynamodb:action/GetItem"}
    assert integration["credentials"] == {"Fn::GetAtt": ["ApiIntegrationRole", "Arn"]}
    assert "${OrdersTable}" in integration["requestTemplates"]["application/json"]["Fn::Sub"]


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_integrations_map_only_json_and_never_pass_other_bodies_through(
    document: dict[str, Any], path: str, method: str
) -> None:
    integration = _operation(document, path, method)["x-amazon-apigateway-integration"]
    assert integration["passthroughBehavior"] == "never"
    assert list(integration["requestTemplates"]) == ["application/json"]
    for response in integration["responses"].values():
        assert list(response["responseTemplates"]) == ["application/json"]


def test_every_name_the_integrations_use_is_a_resource_of_template_yaml(document: dict[str, Any]) -> None:
    resources = cfn.load()["Resources"]
    text = json.dumps([_operation(document, p, m)["x-amazon-apigateway-integration"] for p, m in OPERATIONS])
    names = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text)) | set(re.findall(r'"Fn::GetAtt": \["(\w+)"', text))
    assert names == {"OrderSagaStateMachine", "OrdersTable", "ApiIntegrationRole"}
    assert names <= set(resources)


# ---------------------------------------------------------------------------------------------- request validation


def test_order_request_accepts_the_sample_body(order_request: Draft4Validator) -> None:
    assert list(order_request.iter_errors(_sample_body())) == []


def test_order_request_accepts_any_printable_customer_reference(order_request: Draft4Validator) -> None:
    """Apostrophes, quotes, backslashes and non-ASCII text are data, and must survive the round trip."""
    for customer in ('O\'Brien "Zoë" ☃ \\ 日本', " padded ", "x", "😀"):
        body = {"customerId": customer, "items": [{"sku": "SKU-1", "quantity": 1}], "payment": {"token": "tok_visa"}}
        assert list(order_request.iter_errors(body)) == [], customer


def test_the_request_examples_are_valid_orders(document: dict[str, Any], order_request: Draft4Validator) -> None:
    """The fuzzer (reliability/fuzz.py) starts from them; they sit beside the schema, which API Gateway's models
    would not accept them in."""
    media = _operation(document, "/orders", "post")["requestBody"]["content"]["application/json"]
    assert "example" not in document["components"]["schemas"]["OrderRequest"]
    assert set(media["examples"]) == {"confirmed", "declined", "outOfStock"}
    for name, example in media["examples"].items():
        assert list(order_request.iter_errors(example["value"])) == [], name


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def _with_item(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed["items"][0].update(changes)
    return changed


INVALID_BODIES = {
    "missing customerId": (lambda b: _without(b, "customerId"), [], "customerId"),
    "empty customerId": (lambda b: {**b, "customerId": ""}, ["customerId"], ""),
    "customerId too long": (lambda b: {**b, "customerId": "c" * 129}, ["customerId"], ""),
    "customerId with a control character": (lambda b: {**b, "customerId": "c\n1"}, ["customerId"], ""),
    "customerId with a C1 control character": (lambda b: {**b, "customerId": "c\x851"}, ["customerId"], ""),
    # Found by the fuzzer: the orders service refuses a blank customerId, so the schema must too.
    "blank customerId": (lambda b: {**b, "customerId": "   "}, ["customerId"], ""),
    "no-break-space customerId": (lambda b: {**b, "customerId": "\u00a0\u3000"}, ["customerId"], ""),
    "quantity 0": (lambda b: _with_item(b, quantity=0), ["items", 0, "quantity"], ""),
    "negative quantity": (lambda b: _with_item(b, quantity=-3), ["items", 0, "quantity"], ""),
    "huge quantity": (lambda b: _with_item(b, quantity=10**9), ["items", 0, "quantity"], ""),
    "fractional quantity": (lambda b: _with_item(b, quantity=1.5), ["items", 0, "quantity"], ""),
    "lower-case sku": (lambda b: _with_item(b, sku="sku-mug"), ["items", 0, "sku"], ""),
    "unknown item field": (lambda b: _with_item(b, price=1), ["items", 0], "price"),
    "unknown top-level field": (lambda b: {**b, "discount": 10}, [], "discount"),
    "no items": (lambda b: {**b, "items": []}, ["items"], ""),
    "too many items": (lambda b: {**b, "items": [{"sku": "SKU-MUG", "quantity": 1}] * 26}, ["items"], ""),
    "bad token": (lambda b: {**b, "payment": {"token": "4111111111111111"}}, ["payment", "token"], ""),
    "missing token": (lambda b: {**b, "payment": {}}, ["payment"], "token"),
    "unknown payment field": (lambda b: {**b, "payment": {"token": "tok_visa", "cvc": "123"}}, ["payment"], "cvc"),
}


@pytest.mark.parametrize("case", INVALID_BODIES, ids=list(INVALID_BODIES))
def test_order_request_rejects_naming_the_field(order_request: Draft4Validator, case: str) -> None:
    make, field_path, named_in_message = INVALID_BODIES[case]
    errors = list(order_request.iter_errors(make(_sample_body())))
    assert errors, case
    assert any(list(e.absolute_path) == field_path and named_in_message in e.message for e in errors), [
        (list(e.absolute_path), e.message) for e in errors
    ]


def test_idempotency_key_header_is_required_8_to_128_safe_characters(document: dict[str, Any]) -> None:
    key = _header(_operation(document, "/orders", "post"), "Idempotency-Key")
    assert key["required"] is True
    schema = key["schema"]
    assert (schema["minLength"], schema["maxLength"]) == (8, 128)
    pattern = re.compile(schema["pattern"])
    assert pattern.fullmatch("6a0c1b9e-3f47-4f1e-9d7a-2c5e8b1f0a93")
    for bad in ("short", "k" * 129, 'key"injected"', "key with spaces", "clé-accentuée"):
        assert not pattern.fullmatch(bad), bad


def test_the_templates_enforce_the_same_idempotency_key_pattern_as_the_schema(document: dict[str, Any]) -> None:
    """API Gateway checks only a header's presence: the templates carry the pattern, and must agree."""
    schema_pattern = _header(_operation(document, "/orders", "post"), "Idempotency-Key")["schema"]["pattern"]
    integration = _operation(document, "/orders", "post")["x-amazon-apigateway-integration"]
    templates = [integration["requestTemplates"]["application/json"]["Fn::Sub"]]
    templates.append(integration["responses"][r"4\d{2}"]["responseTemplates"]["application/json"])
    for template in templates:
        assert f"matches('{schema_pattern.strip('^$')}')" in template


def test_order_id_path_parameter_pattern_is_the_one_the_templates_enforce(document: dict[str, Any]) -> None:
    operation = _operation(document, "/orders/{orderId}", "get")
    parameter = next(p for p in operation["parameters"] if p["in"] == "path")
    assert parameter == {**parameter, "name": "orderId", "required": True}
    assert parameter["schema"]["pattern"] == "^ord_[0-9a-f]{64}$"
    integration = operation["x-amazon-apigateway-integration"]
    assert "matches('ord_[0-9a-f]{64}')" in integration["requestTemplates"]["application/json"]["Fn::Sub"]
    assert "matches('ord_[0-9a-f]{64}')" in integration["responses"]["default"]["responseTemplates"]["application/json"]


# ---------------------------------------------------------------------------------------------- gateway responses

# What API Gateway puts in $context.error, with the characters that would break a JSON body unescaped.
ERROR_CONTEXT = {
    "message": 'Missing required request parameters: [Idempotency-Key] "quoted"',
    "validationErrorString": '[object has missing required properties (["customerId"])]',
}
GATEWAY_ERRORS = {
    "BAD_REQUEST_BODY": (400, "INVALID_REQUEST"),
    "BAD_REQUEST_PARAMETERS": (400, "INVALID_REQUEST"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "FORBIDDEN"),  # unsigned, or no such method and path
    "INVALID_SIGNATURE": (403, "FORBIDDEN"),
    "EXPIRED_TOKEN": (403, "FORBIDDEN"),
    "INVALID_API_KEY": (403, "FORBIDDEN"),
    "ACCESS_DENIED": (403, "FORBIDDEN"),
    "THROTTLED": (429, "TOO_MANY_REQUESTS"),
    "QUOTA_EXCEEDED": (429, "QUOTA_EXCEEDED"),
    "REQUEST_TOO_LARGE": (413, "PAYLOAD_TOO_LARGE"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "UNSUPPORTED_MEDIA_TYPE"),
    "INTEGRATION_TIMEOUT": (504, "TIMED_OUT"),
    "INTEGRATION_FAILURE": (502, "BAD_GATEWAY"),
    "DEFAULT_4XX": (None, "REQUEST_REJECTED"),
    "DEFAULT_5XX": (500, "INTERNAL_ERROR"),
}


def test_gateway_responses_are_known_types(document: dict[str, Any]) -> None:
    responses = document["x-amazon-apigateway-gateway-responses"]
    assert set(responses) <= GATEWAY_RESPONSE_TYPES
    assert set(responses) == set(GATEWAY_ERRORS)


@pytest.mark.parametrize("response_type", GATEWAY_ERRORS)
def test_gateway_responses_are_problem_json(document: dict[str, Any], response_type: str) -> None:
    status, code = GATEWAY_ERRORS[response_type]
    response = document["x-amazon-apigateway-gateway-responses"][response_type]
    assert response["responseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
    assert response.get("statusCode") == (None if status is None else str(status))
    context = {"error": {**ERROR_CONTEXT, "responseType": response_type}}
    problem = json.loads(render_gateway_response(response["responseTemplates"]["application/json"], context=context))
    assert problem["code"] == code
    assert problem["type"] == "https://order-saga.example.com/problems/" + code.lower().replace("_", "-")
    assert problem.get("status") == status
    assert problem["title"]
    assert problem["detail"]
    problem_schema = document["components"]["schemas"]["Problem"]
    assert code in problem_schema["properties"]["code"]["enum"]


def test_bad_request_body_names_the_field(document: dict[str, Any]) -> None:
    template = document["x-amazon-apigateway-gateway-responses"]["BAD_REQUEST_BODY"]["responseTemplates"]
    problem = json.loads(render_gateway_response(template["application/json"], context={"error": ERROR_CONTEXT}))
    assert "customerId" in problem["detail"]


def test_throttled_answers_say_when_to_retry(document: dict[str, Any]) -> None:
    throttled = document["x-amazon-apigateway-gateway-responses"]["THROTTLED"]
    assert throttled["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
