"""Named bad input through the local API (api/openapi.yaml served as API Gateway serves it): each answer is its
exact status, application/problem+json, and a detail that names what is wrong. Where the saga never starts,
nothing is reserved; where it does (unknown SKU), the order is closed.

Size limits: API Gateway takes bodies up to 10 MB (413 PAYLOAD_TOO_LARGE above), Step Functions an input up to
256 KB. The request model bounds every field (customerId 128 characters, 25 lines, SKU 32, token 68), so a body
the validator lets through re-serializes to a few KB: anything larger is refused with 400 naming the field
before the saga starts.
"""

import json
import uuid
from typing import Any

import pytest

from tests.support.stack import LocalStackHandle, Response

PROBLEM_JSON = "application/problem+json"
VALID = {"customerId": "c-1", "items": [{"sku": "SKU-3", "quantity": 1}], "payment": {"token": "tok_visa"}}


def _key() -> str:
    return f"bad-input-{uuid.uuid4()}"


def _post(stack: LocalStackHandle, body: Any, **headers: str) -> Response:
    return stack.request("POST", "/orders", body, headers={"Idempotency-Key": _key(), **headers})


def _problem(response: Response, status: int, code: str, *named: str) -> dict[str, Any]:
    """The exact status and code, problem+json, and a detail naming each of `named`."""
    assert response.status == status, response.body[:2000]
    assert response.headers["Content-Type"].split(";")[0] == PROBLEM_JSON
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["type"] == "https://order-saga.example.com/problems/" + code.lower().replace("_", "-")
    assert problem["title"]
    for word in named:
        assert word in problem["detail"], problem["detail"][:2000]
    return problem


def _stock(stack: LocalStackHandle, sku: str) -> tuple[int, int]:
    item = stack.table("InventoryTable").get_item(Key={"pk": f"SKU#{sku}"}, ConsistentRead=True)["Item"]
    return int(item["available"]), int(item["reserved"])


# ---------------------------------------------------------------------------------------------- the body


def test_malformed_json_is_400(local_stack: LocalStackHandle) -> None:
    response = _post(local_stack, b'{"customerId": "c-1", "items": [')
    problem = _problem(response, 400, "INVALID_REQUEST", "JSON")
    assert "orderId" not in problem


def test_a_body_that_is_not_an_object_is_400(local_stack: LocalStackHandle) -> None:
    _problem(_post(local_stack, b"[null, null]"), 400, "INVALID_REQUEST", "object")


def test_a_body_that_is_not_json_is_415(local_stack: LocalStackHandle) -> None:
    response = _post(local_stack, b"customerId=c-1", **{"Content-Type": "application/x-www-form-urlencoded"})
    _problem(response, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**VALID, "customerId": "c" * 300_000}, "customerId"),  # over 256 KB in one field: maxLength 128
        ({**VALID, "items": [{"sku": f"SKU-{n}", "quantity": 1} for n in range(12_000)]}, "items"),  # maxItems 25
    ],
    ids=["customerId-300KB", "items-12000-lines"],
)
def test_a_body_over_step_functions_256_kb_is_400_naming_the_field(
    local_stack: LocalStackHandle, body: dict[str, Any], field: str
) -> None:
    raw = json.dumps(body).encode()
    assert len(raw) > 256 * 1024
    problem = _problem(_post(local_stack, raw), 400, "INVALID_REQUEST", field)
    assert "orderId" not in problem


def test_a_body_over_api_gateways_10_mb_is_413(local_stack: LocalStackHandle) -> None:
    body = b'{"customerId": "' + b"c" * (10 * 1024 * 1024) + b'"}'
    _problem(_post(local_stack, body), 413, "PAYLOAD_TOO_LARGE")


def test_an_unknown_field_is_400_naming_it(local_stack: LocalStackHandle) -> None:
    _problem(_post(local_stack, {**VALID, "discount": 100}), 400, "INVALID_REQUEST", "discount")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": VALID["items"], "payment": VALID["payment"]}, "customerId"),
        ({**VALID, "customerId": ""}, "customerId"),
        ({**VALID, "customerId": "   "}, "customerId"),  # the orders service would refuse it after the saga started
        ({**VALID, "customerId": "c\u00851"}, "customerId"),  # a C1 control character
        ({**VALID, "items": []}, "items"),
        ({**VALID, "items": [{"sku": "sku-lower", "quantity": 1}]}, "sku"),
        ({**VALID, "payment": {"token": "4111111111111111"}}, "token"),
    ],
    ids=["no-customerId", "empty-customerId", "blank-customerId", "c1-customerId", "no-items", "bad-sku", "card"],
)
def test_an_invalid_field_is_400_naming_it(local_stack: LocalStackHandle, body: dict[str, Any], field: str) -> None:
    _problem(_post(local_stack, body), 400, "INVALID_REQUEST", field)


@pytest.mark.parametrize(
    "quantity",
    [0, -1, -(10**6), 101, 10**30, 1.5, "2", None, True],
    ids=["zero", "negative", "very-negative", "over-100", "huge", "fraction", "string", "null", "boolean"],
)
def test_a_bad_quantity_is_400_naming_it(local_stack: LocalStackHandle, quantity: Any) -> None:
    before = _stock(local_stack, "SKU-3")
    body = {**VALID, "items": [{"sku": "SKU-3", "quantity": quantity}]}
    _problem(_post(local_stack, body), 400, "INVALID_REQUEST", "quantity")
    assert _stock(local_stack, "SKU-3") == before


def test_an_unknown_sku_is_422_and_the_order_is_closed(local_stack: LocalStackHandle) -> None:
    response = _post(
        local_stack, {**VALID, "items": [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-NOPE", "quantity": 1}]}
    )
    problem = _problem(response, 422, "UNKNOWN_SKU", "SKU-NOPE", "catalog")
    order = local_stack.request("GET", f"/orders/{problem['orderId']}").json()
    assert order["status"] == "CANCELLED"
    assert order["failureReason"]["code"] == "UNKNOWN_SKU"


def test_the_same_sku_twice_is_400_and_reserves_nothing(local_stack: LocalStackHandle) -> None:
    """The API's model cannot say "unique by sku": inventory refuses it, and the order is recorded as refused."""
    before = _stock(local_stack, "SKU-1")
    body = {**VALID, "items": [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-1", "quantity": 2}]}
    problem = _problem(_post(local_stack, body), 400, "INVALID_REQUEST", "items[1].sku", "SKU-1", "more than once")
    order = local_stack.request("GET", f"/orders/{problem['orderId']}").json()
    assert (order["status"], order["failureReason"]["code"]) == ("CANCELLED", "INVALID_REQUEST")
    assert _stock(local_stack, "SKU-1") == before


def test_apostrophes_quotes_and_non_ascii_round_trip_into_the_stored_order(local_stack: LocalStackHandle) -> None:
    """The request template escapes the body into a JSON string (escapeJavaScript writes \\' which it undoes)."""
    customer = "O'Brien \"Zoë\" ☃ \\ 日本 😀 </script> it''s"
    response = _post(local_stack, {**VALID, "customerId": customer})
    assert response.status == 201, response.body
    order = response.json()
    assert order["customerId"] == customer
    assert local_stack.request("GET", f"/orders/{order['orderId']}").json()["customerId"] == customer
    stored = local_stack.table("OrdersTable").get_item(Key={"orderId": order["orderId"]}, ConsistentRead=True)
    assert json.loads(stored["Item"]["document"])["customerId"] == customer


# ---------------------------------------------------------------------------------------------- headers


def test_a_missing_idempotency_key_is_400_naming_it(local_stack: LocalStackHandle) -> None:
    response = local_stack.request("POST", "/orders", VALID)
    _problem(response, 400, "INVALID_REQUEST", "Idempotency-Key")


@pytest.mark.parametrize(
    "key", ["k" * 129, "short", "has space in it", 'quote"injected', "clé-accentuée"],
    ids=["129-chars", "7-chars", "spaces", "quote", "non-ascii"],
)  # fmt: skip
def test_a_malformed_idempotency_key_is_400_naming_it(local_stack: LocalStackHandle, key: str) -> None:
    # urllib sends a header as Latin-1: "clé" arrives as its bytes, as any client's would.
    response = local_stack.request("POST", "/orders", VALID, headers={"Idempotency-Key": key})
    problem = _problem(response, 400, "INVALID_REQUEST", "Idempotency-Key", "8 to 128")
    assert "orderId" not in problem


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("api_key", [None, "", "wrong-key-0123456789"], ids=["missing", "empty", "wrong"])
def test_a_missing_or_wrong_api_key_is_403(local_stack: LocalStackHandle, method: str, api_key: str | None) -> None:
    headers = {"Idempotency-Key": _key(), **({"x-api-key": api_key} if api_key is not None else {})}
    path = "/orders" if method == "POST" else "/orders/ord_00000000000000000000000000"
    response = local_stack.request(method, path, VALID if method == "POST" else None, headers=headers, api_key=False)
    _problem(response, 403, "FORBIDDEN", "API key", "x-api-key")


# ---------------------------------------------------------------------------------------------- paths and methods


@pytest.mark.parametrize("order_id", ["ord_123", "ORD_00000000000000000000000000", "ord_%22%7D"])
def test_a_malformed_order_id_is_400_naming_it(local_stack: LocalStackHandle, order_id: str) -> None:
    _problem(local_stack.request("GET", f"/orders/{order_id}"), 400, "INVALID_REQUEST", "orderId")


@pytest.mark.parametrize(("method", "path", "allowed"), [("DELETE", "/orders", "POST"), ("PUT", "/orders/x", "GET")])
def test_an_undeclared_method_is_405_with_allow(
    local_stack: LocalStackHandle, method: str, path: str, allowed: str
) -> None:
    response = local_stack.request(method, path, {})
    _problem(response, 405, "METHOD_NOT_ALLOWED", allowed)
    assert response.headers["Allow"] == allowed


def test_an_unknown_path_is_api_gateways_missing_token_403(local_stack: LocalStackHandle) -> None:
    # API Gateway cannot tell an unknown path from an unsigned request (MISSING_AUTHENTICATION_TOKEN).
    _problem(local_stack.request("GET", "/customers"), 403, "FORBIDDEN")
