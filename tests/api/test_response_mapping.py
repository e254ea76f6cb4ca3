"""The real mapping templates of api/openapi.yaml, rendered for every outcome of the execution contract, and the
renderer (saga_local.apigateway.vtl) itself."""

import json
from typing import Any

import pytest

from saga_local.apigateway import (
    Integration,
    IntegrationResponse,
    MappingTemplateError,
    escape_javascript,
    load_integration,
    load_openapi,
    render,
    resolve_intrinsics,
    select_integration_response,
)
from saga_local.apigateway.vtl import json_path
from tests.support.events import read_event
from tests.support.paths import ROOT

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:order-saga"
VALUES = {
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "OrderSagaStateMachine": STATE_MACHINE_ARN,
    "ApiIntegrationRole.Arn": "arn:aws:iam::123456789012:role/api-integration",
    "OrdersTable": "test-orders",
}
KEY = "6a0c1b9e-3f47-4f1e-9d7a-2c5e8b1f0a93"
ORDER_ID = "ord_62fcf1ea2535e70382feef0260147a023e21dde897bc1cf2d989a35c12a31466"
AWKWARD = 'O\'Brien "Zoë" ☃ \\ / \n\t 😀 </script>'  # apostrophe, quotes, backslash, slash, controls, non-BMP


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_openapi(ROOT / "api" / "openapi.yaml")


@pytest.fixture(scope="module")
def post(document: dict[str, Any]) -> Integration:
    return load_integration(document, "/orders", "POST", VALUES)


@pytest.fixture(scope="module")
def get(document: dict[str, Any]) -> Integration:
    return load_integration(document, "/orders/{orderId}", "GET", VALUES)


CALLER = "arn:aws:iam::123456789012:user/storefront"
IDENTITY = {"userArn": CALLER, "caller": "AIDAEXAMPLE", "accountId": "123456789012"}


def respond(
    integration: Integration,
    status_code: int,
    body: Any,
    *,
    key: str = KEY,
    order_id: str = ORDER_ID,
    caller: str = CALLER,
) -> tuple[int, dict[str, str], str]:
    """What the client gets when the integration answers `status_code` with `body` (JSON)."""
    selected = select_integration_response(integration.responses, status_code)
    assert selected is not None
    result = render(
        selected.templates["application/json"],
        body=json.dumps(body),
        params={"path": {"orderId": order_id}, "header": {"Idempotency-Key": key}},
        context={"requestId": "req-1", "path": "/dev/orders", "identity": {**IDENTITY, "userArn": caller}},
    )
    headers = {"Content-Type": "application/json", **result.header_overrides}
    return result.status_override or selected.status_code, headers, result.body


def order_view(**changes: Any) -> dict[str, Any]:
    return {
        "orderId": ORDER_ID,
        "status": "CONFIRMED",
        "customerId": "cust-1042",
        "items": [{"sku": "SKU-MUG", "quantity": 2, "name": "Mug", "unitPrice": 1250, "lineTotal": 2500}],
        "total": 2500,
        "currency": "EUR",
        "paymentId": "pay_1",
        "invoiceId": "inv_1",
        "failureReason": None,
        "failedCompensations": [],
        "createdAt": "2026-11-25T10:00:00Z",
        "updatedAt": "2026-11-25T10:00:01Z",
        **changes,
    }


def succeeded(output: dict[str, Any]) -> dict[str, Any]:
    return {"executionArn": "arn:exec", "status": "SUCCEEDED", "output": json.dumps(output, ensure_ascii=False)}


def failed(error: str, cause: str) -> dict[str, Any]:
    return {"executionArn": "arn:exec", "status": "FAILED", "error": error, "cause": cause}


def assert_problem(headers: dict[str, str], body: str, status: int, code: str) -> dict[str, Any]:
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == "https://order-saga.example.com/problems/" + code.lower().replace("_", "-")
    assert problem["title"]
    assert problem["detail"]
    return problem


# ---------------------------------------------------------------------------------------------- POST: request


def test_sample_event_becomes_a_start_sync_execution_request(post: Integration) -> None:
    event = read_event("api-post-order.json")
    result = render(
        post.request_templates["application/json"],
        body=event["body"],
        params={"header": event["headers"]},
        context=event["requestContext"],
    )
    request = json.loads(result.body)
    assert set(request) == {"stateMachineArn", "input"}
    assert request["stateMachineArn"] == STATE_MACHINE_ARN
    assert json.loads(request["input"]) == {
        "idempotencyKey": event["headers"]["Idempotency-Key"],
        "caller": event["requestContext"]["identity"]["userArn"],
        "requestId": event["requestContext"]["requestId"],
        "request": json.loads(event["body"]),
    }


@pytest.mark.parametrize(
    "customer_id",
    [AWKWARD, "it's", '"quoted"', "back\\slash", "\\'", "\\\\'", "Zoë ☃", "€/💳", "\u2028", ""],
)
def test_request_survives_quotes_backslashes_and_non_ascii(post: Integration, customer_id: str) -> None:
    """The templates must not depend on validation having rejected such bodies."""
    body = {"customerId": customer_id, "items": [{"sku": "SKU-MUG", "quantity": 2}], "payment": {"token": "tok_visa"}}
    raw = json.dumps(body, ensure_ascii=False)
    result = render(
        post.request_templates["application/json"],
        body=raw,
        params={"header": {"idempotency-key": KEY}},
        context={"identity": IDENTITY},
    )
    execution_input = json.loads(json.loads(result.body)["input"])
    assert execution_input["request"] == body
    assert execution_input["idempotencyKey"] == KEY


@pytest.mark.parametrize("key", ["short", 'abcdefgh", "x": "y', "k" * 129, "has space in it", "clé-accentuée", ""])
def test_a_malformed_idempotency_key_never_reaches_the_saga(post: Integration, key: str) -> None:
    result = render(
        post.request_templates["application/json"],
        body="{}",
        params={"header": {"Idempotency-Key": key}},
        context={"identity": IDENTITY},
    )
    request = json.loads(result.body)
    assert request["stateMachineArn"] == STATE_MACHINE_ARN
    with pytest.raises(json.JSONDecodeError):  # StartSyncExecution refuses it: InvalidExecutionInput
        json.loads(request["input"])
    status, headers, body = respond(
        post, 400, {"__type": "com.amazonaws.swf.service.v2.model#InvalidExecutionInput", "message": "bad"}, key=key
    )
    assert status == 400
    assert "Idempotency-Key" in assert_problem(headers, body, 400, "INVALID_REQUEST")["detail"]


# ---------------------------------------------------------------------------------------------- POST: outcomes


@pytest.mark.parametrize("customer_id", ["cust-1042", AWKWARD])
def test_succeeded_order_is_201_with_the_output_verbatim(post: Integration, customer_id: str) -> None:
    output = order_view(customerId=customer_id)
    execution = succeeded(output)
    status, headers, body = respond(post, 200, execution)
    assert status == 201
    assert headers["Content-Type"] == "application/json"
    assert headers["Location"] == f"/dev/orders/{ORDER_ID}"
    assert body.strip() == execution["output"]
    assert json.loads(body) == output


REJECTIONS = {
    "OUT_OF_STOCK": 409,
    "PAYMENT_DECLINED": 402,
    "UNKNOWN_SKU": 422,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "INVALID_REQUEST": 400,
}


@pytest.mark.parametrize("code", REJECTIONS)
def test_business_rejection_maps_code_to_status(post: Integration, code: str) -> None:
    status, headers, body = respond(post, 200, succeeded({"code": code, "detail": AWKWARD, "orderId": ORDER_ID}))
    assert status == REJECTIONS[code]
    problem = assert_problem(headers, body, REJECTIONS[code], code)
    assert problem["detail"] == AWKWARD
    assert problem["orderId"] == ORDER_ID
    assert "Location" not in headers
    assert "Retry-After" not in headers


def test_rejection_without_an_order_has_no_order_id(post: Integration) -> None:
    detail = "items[1].sku: must not repeat"
    status, headers, body = respond(post, 200, succeeded({"code": "INVALID_REQUEST", "detail": detail}))
    assert status == 400
    problem = assert_problem(headers, body, 400, "INVALID_REQUEST")
    assert "orderId" not in problem
    assert problem["detail"] == detail


def test_unknown_rejection_code_is_an_internal_error_not_echoed(post: Integration) -> None:
    status, headers, body = respond(post, 200, succeeded({"code": "NEW_CODE", "detail": "internal words"}))
    assert status == 500
    assert "internal words" not in assert_problem(headers, body, 500, "INTERNAL_ERROR")["detail"]


def test_service_unavailable_is_503_with_retry_after(post: Integration) -> None:
    cause = json.dumps({"code": "SERVICE_UNAVAILABLE", "detail": AWKWARD, "orderId": ORDER_ID})
    status, headers, body = respond(post, 200, failed("SERVICE_UNAVAILABLE", cause))
    assert status == 503
    assert headers["Retry-After"] == "2"
    problem = assert_problem(headers, body, 503, "SERVICE_UNAVAILABLE")
    assert (problem["detail"], problem["orderId"]) == (AWKWARD, ORDER_ID)


def test_service_unavailable_before_an_order_exists_has_no_order_id(post: Integration) -> None:
    cause = json.dumps({"code": "SERVICE_UNAVAILABLE", "detail": "The order could not be placed right now."})
    status, headers, body = respond(post, 200, failed("SERVICE_UNAVAILABLE", cause))
    assert status == 503
    assert "orderId" not in assert_problem(headers, body, 503, "SERVICE_UNAVAILABLE")


def test_compensation_failed_is_500_naming_the_order(post: Integration) -> None:
    cause = json.dumps({"code": "COMPENSATION_FAILED", "detail": "needs manual action", "orderId": ORDER_ID})
    status, headers, body = respond(post, 200, failed("COMPENSATION_FAILED", cause))
    assert status == 500
    assert "Retry-After" not in headers
    assert assert_problem(headers, body, 500, "COMPENSATION_FAILED")["orderId"] == ORDER_ID


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        ("Lambda.Unknown", "The cause could not be determined because Lambda did not return an error type."),
        ("States.Runtime", "An error occurred while executing the state 'X' (secret internals)"),
        ("", ""),
    ],
)
def test_any_other_failure_is_internal_error_without_the_cause(post: Integration, error: str, cause: str) -> None:
    status, headers, body = respond(post, 200, failed(error, cause))
    assert status == 500
    problem = assert_problem(headers, body, 500, "INTERNAL_ERROR")
    assert cause == "" or cause not in problem["detail"]
    assert "orderId" not in problem


def test_timed_out_is_504(post: Integration) -> None:
    status, headers, body = respond(post, 200, {"executionArn": "arn:exec", "status": "TIMED_OUT"})
    assert status == 504
    assert "Idempotency-Key" in assert_problem(headers, body, 504, "TIMED_OUT")["detail"]


def test_throttled_start_is_429_with_retry_after(post: Integration) -> None:
    error = {"__type": "com.amazonaws.swf.service.v2.model#ThrottlingException", "message": "Rate exceeded"}
    status, headers, body = respond(post, 400, error)
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert_problem(headers, body, 429, "TOO_MANY_REQUESTS")


@pytest.mark.parametrize("error_type", ["AccessDeniedException", "StateMachineDoesNotExist", "InvalidArn"])
def test_other_refusals_to_start_are_500_not_the_clients_fault(post: Integration, error_type: str) -> None:
    status, headers, body = respond(post, 400, {"__type": error_type, "message": "details for operators only"})
    assert status == 500
    assert "details for operators" not in assert_problem(headers, body, 500, "INTERNAL_ERROR")["detail"]


@pytest.mark.parametrize("status_code", [500, 503])
def test_step_functions_server_errors_are_503_with_retry_after(post: Integration, status_code: int) -> None:
    status, headers, body = respond(post, status_code, {"__type": "ServiceUnavailable", "message": "oops"})
    assert status == 503
    assert headers["Retry-After"] == "2"
    assert_problem(headers, body, 503, "SERVICE_UNAVAILABLE")


# ---------------------------------------------------------------------------------------------- GET


def test_sample_get_event_becomes_a_consistent_get_item(get: Integration) -> None:
    event = read_event("api-get-order.json")
    result = render(get.request_templates["application/json"], params={"path": event["pathParameters"]})
    assert json.loads(result.body) == {
        "TableName": "test-orders",
        "Key": {"orderId": {"S": event["pathParameters"]["orderId"]}},
        "ConsistentRead": True,
    }


def test_malformed_order_id_is_never_spliced_into_the_request(get: Integration) -> None:
    result = render(get.request_templates["application/json"], params={"path": {"orderId": 'x"}, "TableName": "y'}})
    assert json.loads(result.body)["Key"] == {"orderId": {"S": "ord_malformed"}}


def test_found_order_is_200_with_the_document_verbatim(get: Integration) -> None:
    document = json.dumps(order_view(customerId=AWKWARD), ensure_ascii=False)
    item = {"Item": {"orderId": {"S": ORDER_ID}, "caller": {"S": CALLER}, "document": {"S": document},
                     "status": {"S": "CONFIRMED"}}}  # fmt: skip
    status, headers, body = respond(get, 200, item)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body.strip() == document


def test_missing_order_is_404(get: Integration) -> None:
    status, headers, body = respond(get, 200, {})
    assert status == 404
    assert assert_problem(headers, body, 404, "ORDER_NOT_FOUND")["orderId"] == ORDER_ID


ROLE = "arn:aws:sts::123456789012:assumed-role/back-office"


@pytest.mark.parametrize(
    ("owner", "caller"),
    [
        (CALLER, "arn:aws:iam::123456789012:user/back-office"),  # another user
        (ROLE, "arn:aws:sts::123456789012:assumed-role/storefront/s-1"),  # another role
        (f"{ROLE}-2", f"{ROLE}/session-1"),  # a role whose name starts like the owner's
        (None, CALLER),  # an order stored without a caller belongs to nobody
    ],
)
def test_another_callers_order_answers_exactly_like_an_unknown_one(
    get: Integration, owner: str | None, caller: str
) -> None:
    item: dict[str, Any] = {"orderId": {"S": ORDER_ID}, "document": {"S": json.dumps(order_view())}}
    if owner is not None:
        item["caller"] = {"S": owner}
    assert respond(get, 200, {"Item": item}, caller=caller) == respond(get, 200, {}, caller=caller)


def test_every_session_of_the_owning_role_reads_its_order(get: Integration) -> None:
    document = json.dumps(order_view())
    item = {"Item": {"orderId": {"S": ORDER_ID}, "caller": {"S": ROLE}, "document": {"S": document}}}
    for session in ("s-1", "another-session"):
        status, _, body = respond(get, 200, item, caller=f"{ROLE}/{session}")
        assert (status, body.strip()) == (200, document)


def test_a_role_session_places_orders_as_its_role(post: Integration) -> None:
    result = render(
        post.request_templates["application/json"],
        body=json.dumps({"customerId": "c-1"}),
        params={"header": {"Idempotency-Key": KEY}},
        context={"identity": {**IDENTITY, "userArn": f"{ROLE}/session-1"}},
    )
    assert json.loads(json.loads(result.body)["input"])["caller"] == ROLE


@pytest.mark.parametrize("order_id", ["ord_123", ORDER_ID.upper(), ORDER_ID + "0", ORDER_ID[:30], 'ord_"quoted"'])
def test_malformed_order_id_is_400(get: Integration, order_id: str) -> None:
    status, headers, body = respond(get, 200, {}, order_id=order_id)
    assert status == 400
    assert "orderId" in assert_problem(headers, body, 400, "INVALID_REQUEST")["detail"]


@pytest.mark.parametrize(
    "error_type",
    [
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded",
    ],
)
def test_throttled_read_is_429(get: Integration, error_type: str) -> None:
    status, headers, body = respond(get, 400, {"__type": error_type, "message": "slow down"})
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert_problem(headers, body, 429, "TOO_MANY_REQUESTS")


def test_other_read_refusals_are_500(get: Integration) -> None:
    error = {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "no table"}
    status, headers, body = respond(get, 400, error)
    assert status == 500
    assert_problem(headers, body, 500, "INTERNAL_ERROR")


def test_dynamodb_server_error_is_503(get: Integration) -> None:
    status, headers, body = respond(get, 500, {"__type": "InternalServerError"})
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert_problem(headers, body, 503, "SERVICE_UNAVAILABLE")


# ---------------------------------------------------------------------------------------------- the renderer


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain text 123", "plain text 123"),
        ("it's", "it\\'s"),
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("a/b", "a\\/b"),
        ("\b\f\n\r\t", "\\b\\f\\n\\r\\t"),
        ("\x00\x01\x1f", "\\u0000\\u0001\\u001F"),
        ("\x7f", "\x7f"),  # DEL is left as it is
        ("Zoë", "Zo\\u00EB"),
        ("€☃", "\\u20AC\\u2603"),
        ("😀", "\\uD83D\\uDE00"),  # UTF-16 units, as Java escapes them
    ],
)
def test_escape_javascript_is_commons_lang(text: str, escaped: str) -> None:
    assert escape_javascript(text) == escaped
    assert render("$util.escapeJavaScript($context.v)", context={"v": text}).body == escaped


def test_escape_javascript_with_the_quote_undone_is_a_json_string() -> None:
    template = """{"s": "$util.escapeJavaScript($context.v).replaceAll("\\\\'", "'")"}"""
    for text in (AWKWARD, "\\'", "\\\\'", "'''"):
        assert json.loads(render(template, context={"v": text}).body) == {"s": text}


def test_input_json_path_and_body() -> None:
    body = '{"a": {"b": [10, {"c": "x"}]}, "k-1": true, "s": "Zoë"}'
    template = "$input.json('$.a.b')|$input.path('$.a.b[1].c')|$input.json('$.s')|$input.path('$.nope')|$input.body"
    assert render(template, body=body).body == f'[10,{{"c":"x"}}]|x|"Zoë"||{body}'
    assert render("$input.json('$')", body="").body == "{}"


def test_json_path_subset() -> None:
    document = {"a": {"b": [1, {"c": 2}]}, "k-1": 3, "d.e": 4}
    assert json_path(document, "$") is document
    assert json_path(document, "$.a.b[1].c") == 2
    assert json_path(document, "$.a.b[-1]") == {"c": 2}
    assert json_path(document, "$.k-1") == 3
    assert json_path(document, "$['d.e']") == 4
    assert json_path(document, '$["a"].b[0]') == 1
    assert json_path(document, "$.a.b[5]") is None
    assert json_path(document, "$.a.missing.deeper") is None
    with pytest.raises(MappingTemplateError):
        json_path(document, "$..c")
    with pytest.raises(MappingTemplateError):
        json_path(document, "a.b")


def test_params_search_path_then_querystring_then_headers_case_insensitively() -> None:
    params = {"path": {"id": "p"}, "querystring": {"id": "q", "page": "2"}, "header": {"X-Id": "h"}}
    assert render("$input.params('id')|$input.params('page')|$input.params('x-id')", params=params).body == "p|2|h"
    assert render("[$input.params('absent')]", params=params).body == "[]"
    assert render("$input.params().querystring.page", params=params).body == "2"


def test_util_parse_json_url_and_base64() -> None:
    assert render("""#set($o = $util.parseJson('{"a": [1, "b"]}'))$o.a[1]""").body == "b"
    assert render("$util.urlEncode('a b&c=d~*é')").body == "a+b%26c%3Dd%7E*%C3%A9"
    assert render("$util.urlDecode('a+b%26c%3Dd%7E*%C3%A9')").body == "a b&c=d~*é"
    assert render("$util.base64Encode('Zoë')|$util.base64Decode('Wm/Dqw==')").body == "Wm/Dqw==|Zoë"
    with pytest.raises(MappingTemplateError):
        render("$util.parseJson('not json')")


def test_response_overrides_are_returned_not_printed() -> None:
    template = (
        "#set($context.responseOverride.status = 402)"
        '#set($context.responseOverride.header.Content-Type = "application/problem+json")'
        "#set($context.responseOverride.header.Retry-After = 2)body"
    )
    result = render(template)
    assert result.body == "body"
    assert result.status_override == 402
    assert result.header_overrides == {"Content-Type": "application/problem+json", "Retry-After": "2"}
    assert render("no override").status_override is None


def test_request_overrides_are_returned() -> None:
    result = render("#set($context.requestOverride.header.X-Tenant = 'acme')#set($context.requestOverride.path.id = 7)")
    assert result.request_overrides == {"header": {"X-Tenant": "acme"}, "path": {"id": "7"}}


def test_an_override_set_twice_fails_as_in_api_gateway() -> None:
    with pytest.raises(MappingTemplateError, match="twice"):
        render("#set($context.responseOverride.status = 400)#set($context.responseOverride.status = 500)")


def test_context_and_stage_variables() -> None:
    context = {"requestId": "r-1", "identity": {"sourceIp": "203.0.113.10"}}
    template = "$context.requestId $context.identity.sourceIp $stageVariables.table"
    assert render(template, context=context, stage_variables={"table": "t"}).body == "r-1 203.0.113.10 t"
    assert render("$context.requestId").body  # API Gateway always has one


def test_null_is_false_as_in_velocity() -> None:
    """airspeed alone answers the opposite for both."""
    assert render("#if($context.missing)yes#{else}no#end").body == "no"
    assert render("#if(!$context.missing)yes#{else}no#end").body == "yes"
    assert render("#if($context.missing)a#elseif($context.missing)b#{else}c#end").body == "c"
    assert render("#if($context.v)yes#{else}no#end", context={"v": "x"}).body == "yes"
    assert render("#if(!$context.v)yes#{else}no#end", context={"v": "x"}).body == "no"


def test_java_string_methods() -> None:
    template = "$context.v.toLowerCase().replace('_', '-')|$context.v.matches('[A-Z_]+')|$context.v.endsWith('UT')"
    assert render(template, context={"v": "TIMED_OUT"}).body == "timed-out|true|true"


def test_broken_templates_raise_mapping_template_error() -> None:
    with pytest.raises(MappingTemplateError):
        render("#if($x")
    with pytest.raises(MappingTemplateError):
        render("$input.path('$.a')", body="not json")


# ---------------------------------------------------------------------------------------------- integration helpers


def test_select_integration_response_full_matches_the_status_code() -> None:
    default = IntegrationResponse(None, 200, {}, {})
    client = IntegrationResponse(r"4\d{2}", 400, {}, {})
    server = IntegrationResponse(r"5\d{2}", 500, {}, {})
    responses = [default, client, server]
    assert select_integration_response(responses, 200) is default
    assert select_integration_response(responses, 404) is client
    assert select_integration_response(responses, 503) is server
    assert select_integration_response([IntegrationResponse("4", 400, {}, {}), default], 404) is default  # not search
    assert select_integration_response([client], 200) is None


def test_resolve_intrinsics() -> None:
    values = {"Table": "t", "Role.Arn": "arn:role", "AWS::Region": "eu-west-1", "AWS::Partition": "aws"}
    node = {
        "a": {"Ref": "Table"},
        "b": {"Fn::GetAtt": ["Role", "Arn"]},
        "c": {"Fn::GetAtt": "Role.Arn"},
        "d": [{"Fn::Sub": "x-${AWS::Region}-${Table}-${!Literal}"}],
        "e": {"Fn::Sub": ["${Local}/${Table}", {"Local": {"Ref": "Table"}}]},
    }
    assert resolve_intrinsics(node, values) == {
        "a": "t",
        "b": "arn:role",
        "c": "arn:role",
        "d": ["x-eu-west-1-t-${Literal}"],
        "e": "t/t",
    }
    with pytest.raises(KeyError, match="Missing"):
        resolve_intrinsics({"Ref": "Missing"}, values)


def test_load_integration_resolves_the_real_document(post: Integration, get: Integration) -> None:
    assert post.uri == "arn:aws:apigateway:us-east-1:states:action/StartSyncExecution"
    assert get.uri == "arn:aws:apigateway:us-east-1:dynamodb:action/GetItem"
    assert post.credentials == get.credentials == VALUES["ApiIntegrationRole.Arn"]
    assert (post.type, post.http_method, post.passthrough_behavior) == ("aws", "POST", "never")
    assert [r.selection_pattern for r in post.responses] == [None, r"4\d{2}", r"5\d{2}"]
    assert "${" not in post.request_templates["application/json"]
