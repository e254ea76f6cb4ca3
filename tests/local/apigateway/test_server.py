"""The local API Gateway (saga_local.apigateway.server) serving api/openapi.yaml against a fake AWS JSON endpoint
that records each request and answers with canned StartSyncExecution / GetItem responses."""

import copy
import io
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.test import Client, EnvironBuilder, TestResponse
from werkzeug.wrappers import Request, Response

from saga_local.apigateway import load_openapi, resolve_intrinsics
from saga_local.apigateway.callers import moto_allows
from saga_local.apigateway.server import UnsupportedDefinition, make_app
from saga_local.apigateway.serving import ServerHandle, TokenBucket, serve
from saga_local.apigateway.sigv4 import Principal
from saga_local.cloudformation.specs import RestApiSpec
from saga_local.signing import Caller, RequestsSigV4, sign
from saga_local.xray.segments import parse_trace_header

ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:order-saga"
VALUES = {
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "OrderSagaStateMachine": STATE_MACHINE_ARN,
    "ApiIntegrationRole.Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/api-integration",
    "OrdersTable": "local-orders",
}
API_KEY = "local-key-0123456789"
IDEMPOTENCY_KEY = "6a0c1b9e-3f47-4f1e-9d7a-2c5e8b1f0a93"
ORDER_ID = "ord_62fcf1ea2535e70382feef0260147a023e21dde897bc1cf2d989a35c12a31466"
ORDER_REQUEST: dict[str, Any] = {
    "customerId": "cust-1042",
    "items": [{"sku": "SKU-MUG", "quantity": 2}],
    "payment": {"token": "tok_visa"},
}
PROBLEMS = "https://order-saga.example.com/problems/"
API_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:a1b2c3d4e5"
INVOKE_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API_ARN}/*"}],
    }
)
STOREFRONT = Principal(
    access_key_id="AKIASTOREFRONT000001", secret_access_key="storefront-secret-0123456789",
    arn=f"arn:aws:iam::{ACCOUNT_ID}:user/storefront", account_id=ACCOUNT_ID, user_id="AIDASTOREFRONT",
    policies=[INVOKE_ALL],
)  # fmt: skip
PRINCIPALS = {STOREFRONT.access_key_id: STOREFRONT}
SIGNER = Caller("storefront", STOREFRONT.access_key_id, STOREFRONT.secret_access_key)


class SignedClient(Client):
    """A client that signs every request as `caller` (SigV4, execute-api), unless `caller` is None."""

    caller: Caller | None = SIGNER

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        if self.caller is None or (args and isinstance(args[0], EnvironBuilder | dict)):
            return super().open(*args, **kwargs)
        builder = EnvironBuilder(*args, **kwargs)
        try:
            request = builder.get_request()
            body = request.get_data()  # reading it empties the builder's stream: it is sent again below
            headers = {name: value for name, value in request.headers.items() if name.lower() != "content-length"}
            signed = sign(request.method, request.url, body, headers, self.caller)
            environ = builder.get_environ()
            environ["wsgi.input"] = io.BytesIO(body)
            for name, value in signed.items():
                environ["HTTP_" + name.upper().replace("-", "_")] = value
            return super().open(environ)
        finally:
            builder.close()


# ---------------------------------------------------------------------------------------------- a fake AWS


@dataclass
class Recorded:
    target: str
    headers: dict[str, str]
    body: dict[str, Any]


# An answer: (HTTP status, JSON body), optionally after a delay in seconds.
Answer = tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], float]


@dataclass
class FakeAws:
    """Step Functions and DynamoDB as far as the API calls them: answers by action, requests recorded."""

    answers: dict[str, Callable[[dict[str, Any]], Answer]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        target = request.headers.get("X-Amz-Target", "")
        body = json.loads(request.get_data(as_text=True))
        self.requests.append(Recorded(target, dict(request.headers.items()), body))
        status, payload, *delay = self.answers[target.partition(".")[2]](body)
        time.sleep(delay[0] if delay else 0)  # a slow service, when a test injects the delay on purpose
        return Response(json.dumps(payload), status, content_type="application/x-amz-json-1.0")(environ, start_response)

    def answer(self, action: str, status: int, payload: dict[str, Any], delay: float = 0) -> None:
        self.answers[action] = lambda _body: (status, payload, delay)

    @property
    def last(self) -> Recorded:
        return self.requests[-1]


def execution(status: str, **fields: Any) -> dict[str, Any]:
    return {"executionArn": "arn:exec", "stateMachineArn": STATE_MACHINE_ARN, "status": status, **fields}


def order_view(**changes: Any) -> dict[str, Any]:
    return {"orderId": ORDER_ID, "status": "CONFIRMED", "customerId": "cust-1042",
            "items": [{"sku": "SKU-MUG", "quantity": 2, "unitPrice": 1250, "lineTotal": 2500}],
            "total": 2500, "currency": "EUR", "createdAt": "2026-11-25T10:00:00Z",
            "updatedAt": "2026-11-25T10:00:01Z", **changes}  # fmt: skip


def start_sync_execution(body: dict[str, Any]) -> Answer:
    """Like Step Functions: a non-JSON input is refused before anything runs; else the saga confirms."""
    try:
        request = json.loads(body["input"])["request"]
    except ValueError:
        return 400, {"__type": "com.amazonaws.swf.service.v2.model#InvalidExecutionInput", "message": "not JSON"}
    output = order_view(customerId=request["customerId"])
    return 200, execution("SUCCEEDED", output=json.dumps(output, ensure_ascii=False))


@pytest.fixture
def fake_aws() -> Iterator[tuple[FakeAws, ServerHandle]]:
    fake = FakeAws()
    fake.answers["StartSyncExecution"] = start_sync_execution
    item = {"orderId": {"S": ORDER_ID}, "caller": {"S": STOREFRONT.arn}, "document": {"S": json.dumps(order_view())}}
    fake.answer("GetItem", 200, {"Item": item})
    handle = serve(fake, "127.0.0.1", 0)
    yield fake, handle
    handle.shutdown()


@pytest.fixture
def aws(fake_aws: tuple[FakeAws, ServerHandle]) -> FakeAws:
    return fake_aws[0]


# ---------------------------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def source_document() -> dict[str, Any]:
    return resolve_intrinsics(load_openapi(ROOT / "api" / "openapi.yaml"), VALUES)


@pytest.fixture
def document(source_document: dict[str, Any]) -> dict[str, Any]:
    """A copy a test may change: the emulator must follow it."""
    return copy.deepcopy(source_document)


Gateway = Callable[..., Client]


@pytest.fixture
def gateway(fake_aws: tuple[FakeAws, ServerHandle], document: dict[str, Any]) -> Gateway:
    """gateway(**RestApiSpec changes) -> a client of the API stage calling the fake AWS."""

    def make(endpoint: str = fake_aws[1].url, executions_at_once: int | None = None, **changes: Any) -> Client:
        spec = RestApiSpec(logical_id="OrdersApi", api_id="a1b2c3d4e5", definition=document, stage="dev",
                           api_keys=(API_KEY,), tracing_enabled=True)  # fmt: skip
        app = make_app(replace(spec, **changes), aws_endpoint_url=endpoint, region=REGION, account_id=ACCOUNT_ID,
                       executions_at_once=executions_at_once, principals=PRINCIPALS.get,
                       allows=moto_allows)  # fmt: skip
        return SignedClient(app)

    return make


@pytest.fixture
def api(gateway: Gateway) -> Client:
    return gateway()


def place(api: Client, body: Any = ORDER_REQUEST, path: str = "/dev/orders", **headers: str) -> TestResponse:
    headers = {"x-api-key": API_KEY, "Idempotency-Key": IDEMPOTENCY_KEY, **headers}
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    return api.post(path, data=data, headers={"Content-Type": "application/json", **headers})


def problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = json.loads(response.get_data(as_text=True))
    assert body["code"] == code
    assert body["type"] == PROBLEMS + code.lower().replace("_", "-")
    assert body["detail"]
    return body


# ---------------------------------------------------------------------------------------------- POST /orders


@pytest.mark.parametrize(("path", "location"), [("/dev/orders", "/dev/orders"), ("/orders", "/orders")])
def test_a_confirmed_order_is_201_with_the_order(api: Client, aws: FakeAws, path: str, location: str) -> None:
    response = place(api, path=path)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Location"] == f"{location}/{ORDER_ID}"  # $context.path: the path as requested
    assert response.json == order_view()
    assert response.headers["x-amzn-RequestId"]


def test_the_saga_is_started_with_the_request_as_its_input(
    gateway: Gateway, aws: FakeAws, document: dict[str, Any]
) -> None:
    # The model refuses such characters; a copy without the pattern shows that the mapping carries them intact.
    del document["components"]["schemas"]["OrderRequest"]["properties"]["customerId"]["pattern"]
    body = {**ORDER_REQUEST, "customerId": 'O\'Brien "Zoë" ☃ \\ / 😀 </script>'}
    response = place(gateway(), body)
    assert response.status_code == 201
    assert response.json is not None
    assert response.json["customerId"] == body["customerId"]
    sent = aws.last
    assert sent.target == "AWSStepFunctions.StartSyncExecution"
    assert sent.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=local/")
    assert f"/{REGION}/states/aws4_request" in sent.headers["Authorization"]
    assert sent.body["stateMachineArn"] == STATE_MACHINE_ARN
    assert json.loads(sent.body["input"]) == {
        "idempotencyKey": IDEMPOTENCY_KEY,
        "caller": STOREFRONT.arn,  # $context.identity.userArn of the signature's principal
        "requestId": response.headers["x-amzn-RequestId"],  # $context.requestId
        "request": body,
    }


def test_the_trace_goes_to_the_saga_and_back_to_the_client(api: Client, aws: FakeAws) -> None:
    response = place(api, **{"X-Amzn-Trace-Id": "Root=1-6744a1b2-3c4d5e6f7a8b9c0d1e2f3a4b;Parent=53995c3f42cd8ad8"})
    sent = parse_trace_header(aws.last.headers["X-Amzn-Trace-Id"])
    assert sent["Root"] == "1-6744a1b2-3c4d5e6f7a8b9c0d1e2f3a4b"
    assert sent["Parent"] != "53995c3f42cd8ad8"  # the API stage's own segment
    assert sent["Sampled"] == "1"
    assert parse_trace_header(response.headers["X-Amzn-Trace-Id"])["Root"] == sent["Root"]


def test_a_new_trace_is_started_and_the_stage_segment_is_sent_to_the_daemon(
    api: Client, aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(5)
        monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{daemon.getsockname()[1]}")
        response = place(api)
        header, document = daemon.recv(65536).split(b"\n", 1)
    assert json.loads(header) == {"format": "json", "version": 1}
    segment = json.loads(document)
    sent = parse_trace_header(aws.last.headers["X-Amzn-Trace-Id"])
    assert segment["trace_id"] == sent["Root"] == parse_trace_header(response.headers["X-Amzn-Trace-Id"])["Root"]
    assert segment["id"] == sent["Parent"]
    assert segment["name"] == "Order saga API/dev"
    assert segment["origin"] == "AWS::ApiGateway::Stage"
    assert segment["http"]["response"]["status"] == 201
    assert segment["aws"]["api_gateway"]["request_id"] == response.headers["x-amzn-RequestId"]
    assert segment["subsegments"][0]["name"] == "states"
    assert segment["start_time"] <= segment["subsegments"][0]["start_time"] <= segment["end_time"]


OUTCOMES = {
    "out of stock": (200, execution("SUCCEEDED", output='{"code": "OUT_OF_STOCK", "detail": "none left",'
                                    f' "orderId": "{ORDER_ID}"}}'), 409, "OUT_OF_STOCK"),
    "declined": (200, execution("SUCCEEDED", output='{"code": "PAYMENT_DECLINED", "detail": "no"}'),
                 402, "PAYMENT_DECLINED"),
    "unavailable": (200, execution("FAILED", error="SERVICE_UNAVAILABLE", cause='{"detail": "down"}'),
                    503, "SERVICE_UNAVAILABLE"),
    "compensation failed": (200, execution("FAILED", error="COMPENSATION_FAILED",
                                           cause=f'{{"detail": "stuck", "orderId": "{ORDER_ID}"}}'),
                            500, "COMPENSATION_FAILED"),
    "timed out": (200, execution("TIMED_OUT"), 504, "TIMED_OUT"),
    "throttled": (400, {"__type": "com.amazonaws.swf.service.v2.model#ThrottlingException", "message": "Rate"},
                  429, "TOO_MANY_REQUESTS"),
    "step functions down": (500, {"__type": "ServiceUnavailable", "message": "oops"}, 503, "SERVICE_UNAVAILABLE"),
}  # fmt: skip
RETRY_AFTER = {"unavailable": "2", "throttled": "1", "step functions down": "2"}


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_each_outcome_has_its_status_and_problem(api: Client, aws: FakeAws, outcome: str) -> None:
    integration_status, payload, status, code = OUTCOMES[outcome]
    aws.answer("StartSyncExecution", integration_status, payload)
    response = place(api)
    problem(response, status, code)
    assert response.headers.get("Retry-After") == RETRY_AFTER.get(outcome)
    assert "Location" not in response.headers


def test_a_malformed_idempotency_key_is_400_naming_it(api: Client, aws: FakeAws) -> None:
    body = problem(place(api, **{"Idempotency-Key": "bad key!"}), 400, "INVALID_REQUEST")
    assert "Idempotency-Key" in body["detail"]


# ---------------------------------------------------------------------------------------------- gateway answers


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_without_a_valid_api_key_it_is_403(api: Client, aws: FakeAws, key: str | None) -> None:
    headers = {"Idempotency-Key": IDEMPOTENCY_KEY, "Content-Type": "application/json"}
    if key is not None:
        headers["x-api-key"] = key
    problem(api.post("/dev/orders", json=ORDER_REQUEST, headers=headers), 403, "FORBIDDEN")
    problem(api.get(f"/dev/orders/{ORDER_ID}", headers=headers), 403, "FORBIDDEN")
    assert aws.requests == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**ORDER_REQUEST, "items": [{"sku": "SKU-MUG", "quantity": 0}]}, "$.items[0].quantity"),
        ({key: value for key, value in ORDER_REQUEST.items() if key != "customerId"}, "'customerId'"),
        ({**ORDER_REQUEST, "discount": 10}, "'discount' was unexpected"),
        ({**ORDER_REQUEST, "payment": {"token": "4111111111111111"}}, "$.payment.token"),
        ("", "'customerId'"),
    ],
)
def test_an_invalid_body_is_400_naming_the_field(api: Client, aws: FakeAws, body: Any, named: str) -> None:
    detail = problem(place(api, body), 400, "INVALID_REQUEST")["detail"]
    assert named in detail
    assert aws.requests == []


def test_malformed_json_is_400(api: Client, aws: FakeAws) -> None:
    assert "Invalid JSON" in problem(place(api, '{"customerId": '), 400, "INVALID_REQUEST")["detail"]
    assert aws.requests == []


def test_a_missing_required_header_is_400_naming_it(api: Client, aws: FakeAws) -> None:
    response = api.post("/dev/orders", json=ORDER_REQUEST, headers={"x-api-key": API_KEY})
    detail = problem(response, 400, "INVALID_REQUEST")["detail"]
    assert detail == "Missing required request parameters: [Idempotency-Key]"  # API Gateway's own words
    assert aws.requests == []


@pytest.mark.parametrize(("method", "path"), [("GET", "/dev/nothing"), ("GET", "/dev"), ("POST", "/dev/orders/x/y")])
def test_an_unknown_route_is_the_missing_token_answer(api: Client, method: str, path: str) -> None:
    # API Gateway cannot tell an unknown route from an unsigned request: both are its 403.
    problem(api.open(path, method=method, headers={"x-api-key": API_KEY}), 403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("method", "path", "allowed", "content_type"),
    [
        ("DELETE", "/dev/orders", "POST", "application/json"),
        ("PUT", "/dev/orders", "POST", "text/plain"),  # a mock integration without a template: any body
        ("TRACE", "/dev/orders", "POST", None),
        ("POST", f"/dev/orders/{ORDER_ID}", "GET", "application/json"),
        ("PATCH", "/dev/orders/anything", "GET", "application/json"),
    ],
)
def test_another_method_on_a_resource_is_the_mock_integrations_405(
    api: Client, aws: FakeAws, method: str, path: str, allowed: str, content_type: str | None
) -> None:
    headers = {"x-api-key": API_KEY, **({"Content-Type": content_type} if content_type else {})}
    response = api.open(path, method=method, data="{not json", headers=headers)
    problem(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == allowed
    assert aws.requests == []  # answered by API Gateway itself


def test_another_method_needs_the_api_key_too(api: Client) -> None:
    problem(api.delete("/dev/orders"), 403, "FORBIDDEN")


def test_a_mock_request_template_chooses_the_integration_response(gateway: Gateway, document: dict[str, Any]) -> None:
    """{"statusCode": N} from the request template selects the integration response, as on API Gateway."""
    integration = document["paths"]["/orders"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
    template = "{\"statusCode\": #if($input.params('x') == '1')200#{else}418#end}"
    integration["requestTemplates"] = {"application/json": template}
    integration["responses"][r"2\d{2}"] = {"statusCode": "200", "responseTemplates": {"application/json": "ok"}}
    api = gateway()
    assert api.put("/dev/orders?x=1", json={}, headers={"x-api-key": API_KEY}).get_data(as_text=True) == "ok"
    assert api.put("/dev/orders?x=2", json={}, headers={"x-api-key": API_KEY}).status_code == 405


def test_a_body_that_is_not_json_is_415(api: Client, aws: FakeAws) -> None:
    response = place(api, "customerId=c-1", **{"Content-Type": "application/x-www-form-urlencoded"})
    problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert aws.requests == []


def test_a_body_over_10_mb_is_413(api: Client, aws: FakeAws) -> None:
    problem(place(api, b" " * (10 * 1024 * 1024 + 1)), 413, "PAYLOAD_TOO_LARGE")
    assert aws.requests == []


def test_the_stage_throttle_answers_429(gateway: Gateway, aws: FakeAws) -> None:
    api = gateway(throttle_rate=0.001, throttle_burst=2)
    assert [place(api).status_code for _ in range(2)] == [201, 201]
    response = place(api)
    problem(response, 429, "TOO_MANY_REQUESTS")
    assert response.headers["Retry-After"] == "1"
    assert len(aws.requests) == 2


def test_no_answer_in_time_is_504(gateway: Gateway, aws: FakeAws, document: dict[str, Any]) -> None:
    document["paths"]["/orders"]["post"]["x-amazon-apigateway-integration"]["timeoutInMillis"] = 200
    aws.answer("StartSyncExecution", 200, execution("SUCCEEDED", output="{}"), delay=1.0)
    problem(place(gateway()), 504, "TIMED_OUT")


def test_executions_past_the_local_bound_wait_before_they_start_outside_the_integration_timeout(
    gateway: Gateway, aws: FakeAws, document: dict[str, Any]
) -> None:
    """6 orders at once, 2 executions at a time, each 0.3 s, a 0.5 s integration timeout: the last ones start
    after 0.6 s of waiting and still answer 201, and never more than 2 ran at once."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    document["paths"]["/orders"]["post"]["x-amazon-apigateway-integration"]["timeoutInMillis"] = 500
    running, most, lock = 0, 0, threading.Lock()

    def slow_execution(body: dict[str, Any]) -> Answer:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)  # the behaviour under test: executions long enough to overlap
        with lock:
            running -= 1
        return start_sync_execution(body)

    aws.answers["StartSyncExecution"] = slow_execution
    api = gateway(executions_at_once=2)
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda n: place(api, **{"Idempotency-Key": str(uuid.UUID(int=n))}).status_code,
                                 range(6)))  # fmt: skip

    assert statuses == [201] * 6
    assert most == 2
    assert len(aws.requests) == 6


def test_an_unreachable_service_is_502(gateway: Gateway) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{unused.getsockname()[1]}"  # bound, never listening: connection refused
        problem(place(gateway(endpoint=endpoint)), 502, "BAD_GATEWAY")


# ---------------------------------------------------------------------------------------------- GET /orders/{id}


@pytest.mark.parametrize("path", [f"/dev/orders/{ORDER_ID}", f"/orders/{ORDER_ID}"])
def test_a_stored_order_is_200(api: Client, aws: FakeAws, path: str) -> None:
    response = api.get(path, headers={"x-api-key": API_KEY})
    assert response.status_code == 200
    assert response.json == order_view()
    assert aws.last.target == "DynamoDB_20120810.GetItem"
    assert aws.last.body == {"TableName": "local-orders", "Key": {"orderId": {"S": ORDER_ID}}, "ConsistentRead": True}


def test_an_unknown_order_is_404(api: Client, aws: FakeAws) -> None:
    aws.answer("GetItem", 200, {})
    body = problem(api.get(f"/dev/orders/{ORDER_ID}", headers={"x-api-key": API_KEY}), 404, "ORDER_NOT_FOUND")
    assert body["orderId"] == ORDER_ID


def test_a_throttled_read_is_429(api: Client, aws: FakeAws) -> None:
    aws.answer("GetItem", 400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"})
    response = api.get(f"/dev/orders/{ORDER_ID}", headers={"x-api-key": API_KEY})
    problem(response, 429, "TOO_MANY_REQUESTS")
    assert response.headers["Retry-After"] == "1"


# ---------------------------------------------------------------------------------------------- the document rules


def test_a_changed_response_template_changes_the_answer(
    gateway: Gateway, aws: FakeAws, document: dict[str, Any]
) -> None:
    responses = document["paths"]["/orders"]["post"]["x-amazon-apigateway-integration"]["responses"]
    template = responses["default"]["responseTemplates"]["application/json"]
    responses["default"]["responseTemplates"]["application/json"] = template.replace(
        '#set($title = "Out of stock")', '#set($title = "Sold out")'
    ).replace("#set($status = 409)", "#set($status = 410)")
    aws.answer("StartSyncExecution", 200, execution("SUCCEEDED", output='{"code": "OUT_OF_STOCK", "detail": "x"}'))
    assert problem(place(gateway()), 410, "OUT_OF_STOCK")["title"] == "Sold out"


def test_a_changed_gateway_response_changes_the_answer(gateway: Gateway, document: dict[str, Any]) -> None:
    del document["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    response = gateway().get("/dev/nothing")
    # No longer customised: DEFAULT_4XX's body with the type's own status, as API Gateway does.
    assert response.status_code == 403
    assert response.json is not None
    assert response.json["code"] == "REQUEST_REJECTED"
    assert response.json["detail"] == "Missing Authentication Token"
    del document["x-amazon-apigateway-gateway-responses"]["DEFAULT_4XX"]
    response = gateway().get("/dev/nothing")
    assert (response.status_code, response.json) == (403, {"message": "Missing Authentication Token"})


def test_a_literal_path_is_preferred_to_a_path_parameter(
    gateway: Gateway, aws: FakeAws, document: dict[str, Any]
) -> None:
    latest = copy.deepcopy(document["paths"]["/orders/{orderId}"])
    latest["get"]["parameters"] = []  # no {orderId} in this path
    template = latest["get"]["x-amazon-apigateway-integration"]["requestTemplates"]
    template["application/json"] = template["application/json"].replace("local-orders", "latest-orders")
    document["paths"]["/orders/latest"] = latest
    api = gateway()
    api.get("/dev/orders/latest", headers={"x-api-key": API_KEY})
    api.get(f"/dev/orders/{ORDER_ID}", headers={"x-api-key": API_KEY})
    assert [request.body["TableName"] for request in aws.requests] == ["latest-orders", "local-orders"]


def test_the_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 0.5  # one request's worth at 2 a second
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] = 10.0  # never more than the burst
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_only_aws_and_mock_integrations_are_emulated(gateway: Gateway, document: dict[str, Any]) -> None:
    document["paths"]["/orders"]["post"]["x-amazon-apigateway-integration"]["type"] = "aws_proxy"
    with pytest.raises(UnsupportedDefinition, match="POST /orders"):
        gateway()


def test_each_request_has_an_access_log_line(api: Client, caplog: pytest.LogCaptureFixture) -> None:
    access = "saga_local.apigateway.access"
    with caplog.at_level(logging.INFO, logger=access):
        response = place(api)
        api.get("/dev/nothing")
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.name == access]
    assert [(line["status"], line["resourcePath"]) for line in lines] == [(201, "/orders"), (403, "")]
    assert lines[0]["caller"] == STOREFRONT.arn
    assert lines[0]["requestId"] == response.headers["x-amzn-RequestId"]
    assert lines[0]["integrationStatus"] == 200
    assert lines[0]["integrationLatencyMs"] is not None
    assert lines[1]["error"] == "Missing Authentication Token"


def test_serves_http_on_a_port(fake_aws: tuple[FakeAws, ServerHandle], document: dict[str, Any]) -> None:
    spec = RestApiSpec(logical_id="OrdersApi", api_id="a1b2c3d4e5", definition=document, stage="dev",
                       api_keys=(API_KEY,))  # fmt: skip
    app = make_app(spec, aws_endpoint_url=fake_aws[1].url, region=REGION, account_id=ACCOUNT_ID,
                   principals=PRINCIPALS.get, allows=moto_allows)  # fmt: skip
    handle = serve(app, "127.0.0.1", 0)
    try:
        response = requests.post(
            f"{handle.url}/dev/orders",
            json=ORDER_REQUEST,
            headers={"x-api-key": API_KEY, "Idempotency-Key": IDEMPOTENCY_KEY},
            auth=RequestsSigV4(SIGNER),
            timeout=10,
        )
    finally:
        handle.shutdown()
    assert response.status_code == 201
    assert response.json()["orderId"] == ORDER_ID
    assert "X-Amzn-Trace-Id" not in response.headers  # tracing is off for this stage


# ---------------------------------------------------------------------------------------------- AWS_IAM (SigV4)

ROLE_SESSION = Principal(
    access_key_id="ASIAFULFILMENT000001", secret_access_key="role-secret-0123456789", session_token="session-token-1",
    arn=f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/fulfilment/shift-1", account_id=ACCOUNT_ID,
    user_id="AROAFULFILMENT:shift-1", policies=[INVOKE_ALL],
)  # fmt: skip
PRINCIPALS[ROLE_SESSION.access_key_id] = ROLE_SESSION
READ_ONLY = Principal(
    access_key_id="AKIAREADONLY00000001", secret_access_key="reader-secret-0123456789",
    arn=f"arn:aws:iam::{ACCOUNT_ID}:user/reader", account_id=ACCOUNT_ID, user_id="AIDAREADER",
    policies=[json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
              "Resource": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:a1b2c3d4e5/dev/GET/orders/*"}]})],
)  # fmt: skip
PRINCIPALS[READ_ONLY.access_key_id] = READ_ONLY


def signed_as(api: Client, caller: Caller | None) -> Client:
    api.caller = caller  # type: ignore[attr-defined]
    return api


def test_an_unsigned_request_is_403_missing_authentication_token_and_nothing_starts(api: Client, aws: FakeAws) -> None:
    body = problem(place(signed_as(api, None)), 403, "FORBIDDEN")
    assert body["detail"].startswith("Missing Authentication Token")
    assert aws.requests == []


@pytest.mark.parametrize(
    ("caller", "message"),
    [
        (Caller("x", STOREFRONT.access_key_id, "not-the-secret"), "The request signature we calculated does not match"),
        (Caller("x", "AKIAUNKNOWN000000001", "whatever"), "The security token included in the request is invalid."),
        (Caller("x", ROLE_SESSION.access_key_id, ROLE_SESSION.secret_access_key, "another-token"),
         "The security token included in the request is invalid."),
        (Caller("x", ROLE_SESSION.access_key_id, ROLE_SESSION.secret_access_key),  # no token at all
         "The security token included in the request is invalid."),
        (Caller("x", STOREFRONT.access_key_id, STOREFRONT.secret_access_key, region="eu-west-1"),
         "Credential should be scoped to a valid region. "),
    ],
    ids=["wrong-secret", "unknown-key", "wrong-session-token", "missing-session-token", "other-region"],
)  # fmt: skip
def test_a_wrongly_signed_request_is_403_with_api_gateways_message(
    api: Client, aws: FakeAws, caller: Caller, message: str
) -> None:
    response = place(signed_as(api, caller))
    assert response.status_code == 403
    assert json.loads(response.get_data(as_text=True))["detail"].startswith(message)
    assert aws.requests == []


def test_a_signature_for_another_service_is_403(api: Client, aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("saga_local.signing.SERVICE", "execute-apis")
    body = problem(place(api), 403, "FORBIDDEN")
    assert body["detail"] == "Credential should be scoped to correct service: 'execute-api'. "
    assert aws.requests == []


@pytest.mark.parametrize(("minutes", "words"), [(-6, "Signature expired: "), (6, "Signature not yet current: ")])
def test_a_signature_more_than_5_minutes_off_is_403(
    api: Client, aws: FakeAws, monkeypatch: pytest.MonkeyPatch, minutes: int, words: str
) -> None:
    import datetime as dt

    signed_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: signed_at.replace(tzinfo=None))
    body = problem(place(api), 403, "FORBIDDEN")
    assert body["detail"].startswith(words)
    assert body["detail"].endswith(("- 5 min.)", "+ 5 min.)"))
    assert aws.requests == []


def test_within_the_skew_a_signature_is_good(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    signed_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: signed_at.replace(tzinfo=None))
    assert place(api).status_code == 201


def test_a_tampered_body_or_header_breaks_the_signature(api: Client, aws: FakeAws) -> None:
    request = {"Content-Type": "application/json", "x-api-key": API_KEY, "Idempotency-Key": IDEMPOTENCY_KEY}
    url = "http://localhost/dev/orders"
    headers = sign("POST", url, json.dumps(ORDER_REQUEST).encode(), request, SIGNER)
    plain = signed_as(api, None)
    tampered = {**ORDER_REQUEST, "items": [{"sku": "SKU-MUG", "quantity": 99}]}
    problem(plain.post("/dev/orders", data=json.dumps(tampered), headers=headers), 403, "FORBIDDEN")
    other_key = {**headers, "Idempotency-Key": "another-key-123"}
    problem(plain.post("/dev/orders", data=json.dumps(ORDER_REQUEST), headers=other_key), 403, "FORBIDDEN")
    assert aws.requests == []
    assert plain.post("/dev/orders", data=json.dumps(ORDER_REQUEST), headers=headers).status_code == 201


def test_a_role_session_signs_with_its_token_and_is_its_role_to_the_saga(api: Client, aws: FakeAws) -> None:
    session = Caller("fulfilment", ROLE_SESSION.access_key_id, ROLE_SESSION.secret_access_key, "session-token-1",
                     arn=ROLE_SESSION.arn)  # fmt: skip
    assert place(signed_as(api, session)).status_code == 201
    assert json.loads(aws.last.body["input"])["caller"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/fulfilment"
    assert session.owner == json.loads(aws.last.body["input"])["caller"]  # what a client finds its keys by


def test_a_caller_without_execute_api_invoke_on_the_route_is_403_access_denied(api: Client, aws: FakeAws) -> None:
    reader = signed_as(api, Caller("reader", READ_ONLY.access_key_id, READ_ONLY.secret_access_key))
    body = problem(place(reader), 403, "FORBIDDEN")
    assert body["detail"] == (
        f"User: {READ_ONLY.arn} is not authorized to perform: execute-api:Invoke on resource: "
        f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:a1b2c3d4e5/dev/POST/orders"
    )
    assert aws.requests == []
    assert reader.get(f"/dev/orders/{ORDER_ID}", headers={"x-api-key": API_KEY}).status_code == 404  # not its order


def test_without_gateway_responses_the_answer_is_api_gateways_own_body(
    gateway: Gateway, document: dict[str, Any]
) -> None:
    del document["x-amazon-apigateway-gateway-responses"]
    api = signed_as(gateway(), None)
    response = place(api)
    assert (response.status_code, response.json) == (403, {"message": "Missing Authentication Token"})
    response = place(signed_as(api, Caller("x", "AKIAUNKNOWN000000001", "whatever")))
    assert (response.status_code, response.json) == (
        403,
        {"message": "The security token included in the request is invalid."},
    )
    assert response.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
