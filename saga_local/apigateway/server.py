"""A local API Gateway REST stage that serves an OpenAPI document with its `x-amazon-apigateway-*` extensions,
as API Gateway serves it once imported and deployed. Routes, validation, mapping templates and error answers
all come from the document: nothing here knows this application's API.

Each request goes through API Gateway's steps in its order: body size, route, API key, throttling, request
validation, integration request (template by Content-Type, passthrough behaviour), the AWS service call,
integration response (selection pattern, template, response parameters, then the template's overrides).
A failure before the integration answers with the document's gateway response for it.
"""

import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from saga_local.apigateway import (
    MappingTemplateError,
    render,
    render_gateway_response,
    select_integration_response,
)
from saga_local.apigateway.access import order_id
from saga_local.apigateway.routes import JSON_SERVICES, Route, UnsupportedDefinition, load_routes
from saga_local.apigateway.serving import TokenBucket
from saga_local.apigateway.sigv4 import (
    PolicyCheck,
    PrincipalLookup,
    SignatureRejected,
    check_invoke,
    identity,
    invoke_arn,
    verify,
)
from saga_local.apigateway.validation import InvalidBody, missing_parameters
from saga_local.cloudformation.specs import RestApiSpec
from saga_local.xray.segments import (
    format_trace_header,
    new_segment_id,
    new_trace_id,
    parse_trace_header,
    segment,
    send_segment,
)

__all__ = ["GatewayError", "UnsupportedDefinition", "make_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
ADMISSION_WAIT_SECONDS = 60.0  # the longest a request waits for the local admission bound before a 504
# Status and $context.error.message of API Gateway's own errors, when the document does not set them.
_GATEWAY_DEFAULTS: dict[str, tuple[int, str]] = {
    "ACCESS_DENIED": (403, "Forbidden"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error"),
    "BAD_REQUEST_BODY": (400, "Invalid request body"),
    "BAD_REQUEST_PARAMETERS": (400, "Missing required request parameters"),
    "EXPIRED_TOKEN": (403, "The security token included in the request is expired"),
    "INTEGRATION_FAILURE": (504, "Internal server error"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "INVALID_SIGNATURE": (403, "Forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "THROTTLED": (429, "Too Many Requests"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type"),
    # Not a gateway response type of its own (an unknown access key or session token): DEFAULT_4XX answers it.
    "UNRECOGNIZED_CLIENT": (403, "The security token included in the request is invalid."),
}
_DEFAULT_GATEWAY_TEMPLATE = '{"message":$context.error.messageString}'


class GatewayError(Exception):
    """API Gateway answers itself, with the gateway response of `response_type`."""

    def __init__(
        self,
        response_type: str,
        message: str | None = None,
        validation_error: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(f"{response_type}: {message or ''}")
        self.response_type = response_type
        self.message = message or _GATEWAY_DEFAULTS.get(response_type, (500, "Internal server error"))[1]
        self.validation_error = validation_error
        self.error_type = error_type  # x-amzn-ErrorType, as API Gateway tells it for IAM refusals


@dataclass(frozen=True)
class _Trace:
    root: str
    parent: str | None  # the caller's segment
    segment_id: str  # this stage's segment: the integration's parent
    sampled: bool

    def header(self, parent: str | None = None) -> str:
        return format_trace_header(self.root, parent, self.sampled)


@dataclass
class _Call:
    """What one request gathers on its way: $context, the method request's parameters, timings."""

    request: Request
    started: float
    context: dict[str, Any]
    params: dict[str, dict[str, str]]
    trace: _Trace | None
    integration_status: int | None = None
    integration_span: tuple[float, float] | None = None
    span_name: str = ""
    api_key_id: str = ""
    caller_arn: str = ""


# What the local admission bound (executions_at_once) holds back: a call that runs a whole execution.
_STARTS_EXECUTION = frozenset({("states", "StartSyncExecution")})


class _ApiGateway:
    def __init__(
        self,
        spec: RestApiSpec,
        *,
        aws_endpoint_url: str,
        region: str,
        account_id: str,
        access_log: logging.Logger,
        executions_at_once: int | None = None,
        role_credentials: Callable[[str], Credentials] | None = None,
        principals: PrincipalLookup | None = None,
        allows: PolicyCheck | None = None,
    ) -> None:
        self._spec = spec
        self._principals = principals or (lambda _access_key_id: None)
        self._allows = allows
        self._document = spec.definition
        self._routes = load_routes(spec.definition)
        self._endpoint = aws_endpoint_url.rstrip("/") + "/"
        self._region, self._account_id = region, account_id
        self._access_log = access_log
        self._http = urllib3.PoolManager(maxsize=32)
        # An integration with `credentials` (its role) signs with that role's session, as API Gateway assumes it;
        # without a role_credentials source, or a role, any credentials sign (the account's root locally).
        self._credentials = Credentials("local", "local")
        self._role_credentials = role_credentials
        self._bucket = None
        if spec.throttle_rate is not None:  # float(): a CloudFormation Number parameter may arrive as a string
            rate = float(spec.throttle_rate)
            burst = int(float(spec.throttle_burst)) if spec.throttle_burst is not None else max(1, math.ceil(rate))
            self._bucket = TokenBucket(rate, burst)
        # A local bound, not API Gateway's: see make_app.
        self._admission = threading.BoundedSemaphore(executions_at_once) if executions_at_once else None
        info_title = spec.definition.get("info", {}).get("title", spec.api_id)
        self._segment_name = f"{spec.extra.get('name', info_title)}/{spec.stage}"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        request = Request(environ)
        call = self._begin(request)
        try:
            response = self._process(call)
        except GatewayError as error:
            response = self._gateway_response(error, call)
        except MappingTemplateError as error:
            # API Gateway logs "Execution failed due to configuration error" and answers 500.
            log.warning("%s %s: mapping template failed: %s", request.method, request.path, error)
            response = self._gateway_response(GatewayError("API_CONFIGURATION_ERROR"), call)
        except Exception:
            log.exception("%s %s: the emulator failed", request.method, request.path)
            response = self._gateway_response(GatewayError("API_CONFIGURATION_ERROR"), call)
        self._finish(call, response)
        return response(environ, start_response)

    def _begin(self, request: Request) -> _Call:
        started = time.time()
        now = datetime.fromtimestamp(started, UTC)
        trace = None
        if self._spec.tracing_enabled:
            incoming = parse_trace_header(request.headers.get("X-Amzn-Trace-Id"))
            trace = _Trace(
                root=incoming.get("Root") or new_trace_id(),
                parent=incoming.get("Parent"),
                segment_id=new_segment_id(),
                sampled=incoming.get("Sampled") != "0",
            )
        context: dict[str, Any] = {
            "accountId": self._account_id,
            "apiId": self._spec.api_id,
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            # API Gateway's own request id, shaped like its base64 ids.
            "extendedRequestId": b64encode(secrets.token_bytes(11)).decode(),
            "httpMethod": request.method,
            "path": request.path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(started * 1000),
            "resourceId": "",
            "resourcePath": "",
            "stage": self._spec.stage,
            "identity": {
                "sourceIp": request.remote_addr or "",
                "userAgent": request.user_agent.string,
                "apiKey": "",
                "apiKeyId": "",
            },
        }
        if trace:
            context["xrayTraceId"] = trace.root
        params = {
            "path": {},
            "querystring": {name: values[-1] for name, values in request.args.lists()},
            "header": dict(request.headers.items()),  # a repeated header: its last value, as API Gateway
        }
        return _Call(request, started, context, params, trace)

    def _process(self, call: _Call) -> Response:
        request = call.request
        body = self._read_body(request)
        route, call.params["path"] = self._match(request.method, request.path)
        call.context.update(resourcePath=route.resource_path, resourceId=_short_id(route.resource_path))
        if route.iam_authorization:  # before the API key, as API Gateway
            self._authorize(call, body)
        if route.requires_api_key:
            self._check_api_key(call)
        if self._bucket is not None and not self._bucket.take():
            raise GatewayError("THROTTLED")
        # No Content-Type means JSON to API Gateway, for validation and template selection alike.
        content_type = request.mimetype or "application/json"
        text = body.decode("utf-8", errors="replace")
        if route.validate_parameters and (missing := missing_parameters(route.parameters, call.params)):
            message = f"Missing required request parameters: [{', '.join(missing)}]"
            raise GatewayError("BAD_REQUEST_PARAMETERS", message, message)
        if route.validate_body:
            try:
                route.body.validate(content_type, text)
            except InvalidBody as error:
                raise GatewayError("BAD_REQUEST_BODY", None, f"[{', '.join(error.errors)}]") from error
        return self._integrate(route, call, content_type, text)

    # -- method request

    def _read_body(self, request: Request) -> bytes:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE")
        body = request.stream.read(MAX_BODY_BYTES + 1)  # a chunked body has no Content-Length
        if len(body) > MAX_BODY_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE")
        return body

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The `/{stage}/...` URL API Gateway serves, and `/...` for convenience. A path or method the document
        does not have is, to API Gateway, a request without authentication."""
        stage = f"/{self._spec.stage}"
        staged = self._spec.stage and (path == stage or path.startswith(stage + "/"))
        for candidate in [path.removeprefix(stage), path] if staged else [path]:
            candidate = candidate.rstrip("/") or "/"  # API Gateway ignores a trailing slash
            for route in self._routes:
                if route.method in (method, "ANY") and (found := route.pattern.fullmatch(candidate)):
                    return route, dict(zip(route.parameter_names, found.groups(), strict=True))
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN")

    def _authorize(self, call: _Call, body: bytes) -> None:
        """AWS_IAM: the SigV4 signature, then execute-api:Invoke on this stage, method and path."""
        request = call.request
        # The path as sent (still percent-encoded): SigV4 encodes the canonical URI once more, as the client did.
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        query = request.query_string.decode("latin-1")
        url = f"{request.scheme}://{request.host}{raw.partition('?')[0]}" + (f"?{query}" if query else "")
        try:
            principal = verify(
                method=request.method, url=url, headers=dict(request.headers.items()), body=body,
                region=self._region, lookup=self._principals,
            )  # fmt: skip
            if self._allows is not None:
                path = call.context["path"].removeprefix(f"/{self._spec.stage}") or "/"
                resource = invoke_arn(
                    self._region, self._account_id, self._spec.api_id, self._spec.stage, request.method, path
                )
                check_invoke(principal, resource, self._allows)
        except SignatureRejected as refused:
            raise GatewayError(refused.response_type, refused.message, error_type=refused.error_type) from None
        call.context["identity"].update(identity(principal))
        call.caller_arn = principal.arn

    def _check_api_key(self, call: _Call) -> None:
        key = _header(call.params["header"], "x-api-key") or ""
        # compare_digest: no timing hint about how much of a key matched.
        if not any(hmac.compare_digest(key.encode(), known.encode()) for known in self._spec.api_keys):
            raise GatewayError("INVALID_API_KEY")
        call.api_key_id = hashlib.sha256(key.encode()).hexdigest()[:10]  # no key ids locally: a stable stand-in
        call.context["identity"].update(apiKey=key, apiKeyId=call.api_key_id)

    # -- integration

    def _integrate(self, route: Route, call: _Call, content_type: str, text: str) -> Response:
        integration = route.integration
        templates = {name.lower(): template for name, template in integration.request_templates.items()}
        headers: dict[str, str] = {}
        if content_type in templates:
            rendered = render(templates[content_type], body=text, params=call.params, context=call.context)
            payload = rendered.body
            headers.update(rendered.request_overrides.get("header", {}))
        elif integration.passthrough_behavior == "never" or (
            integration.passthrough_behavior == "when_no_templates" and templates
        ):
            raise GatewayError("UNSUPPORTED_MEDIA_TYPE")
        else:
            payload = text
        response_headers: dict[str, str]
        if integration.type == "mock":
            # The integration request's template gives {"statusCode": N}; without one, the default response.
            status, response_headers, response_body = _mock_status(payload if content_type in templates else ""), {}, ""
        else:
            if call.trace:
                headers["X-Amzn-Trace-Id"] = call.trace.header(parent=call.trace.segment_id)
            status, response_headers, response_body = self._call_aws(route, payload, headers, call)

        selected = select_integration_response(integration.responses, status)
        if selected is None:
            log.warning("%s: no integration response for status %s and no default", route.resource_path, status)
            raise GatewayError("API_CONFIGURATION_ERROR")
        response_type, template = _pick_template(selected.templates, call.request)
        status_override, header_overrides, body = None, {}, response_body
        if template is not None:
            result = render(template, body=response_body, params=call.params, context=call.context)
            status_override, header_overrides, body = result.status_override, result.header_overrides, result.body
        out = Headers({"Content-Type": response_type})
        sources = self._parameter_sources(call, integration_headers=response_headers)
        for target, expression in selected.parameters.items():
            if target.startswith("method.response.header."):
                out.set(target.removeprefix("method.response.header."), _parameter_value(expression, sources))
        for name, value in header_overrides.items():  # overrides are final: after the parameter mappings
            out.set(name, value)
        return Response(body, status=status_override or selected.status_code, headers=out)

    def _call_aws(
        self, route: Route, payload: str, headers: dict[str, str], call: _Call
    ) -> tuple[int, dict[str, str], str]:
        """The action's AWS JSON-protocol request: the rendered body as is, signed for the region."""
        request = AWSRequest(
            method="POST",
            url=self._endpoint,
            data=payload.encode(),
            headers={
                **headers,
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"{JSON_SERVICES[route.service]}.{route.action}",
                # moto takes the account from this header; AWS from the integration role.
                "x-moto-account-id": self._account_id,
            },
        )
        role = route.integration.credentials
        credentials = self._role_credentials(role) if role and self._role_credentials else self._credentials
        SigV4Auth(credentials, route.service, self._region).add_auth(request)
        call.span_name = route.service
        admission = self._admission if (route.service, route.action) in _STARTS_EXECUTION else None
        # Waiting for admission happens before the integration starts: its timeout and span begin after it.
        if admission is not None and not admission.acquire(timeout=ADMISSION_WAIT_SECONDS):
            raise GatewayError("INTEGRATION_TIMEOUT")
        started = time.time()
        try:
            response = self._http.request(
                "POST",
                self._endpoint,
                body=request.body,
                headers=dict(request.headers.items()),
                timeout=urllib3.Timeout(total=route.timeout_seconds),
                retries=False,
            )
        except urllib3.exceptions.NewConnectionError as error:  # before TimeoutError: urllib3 derives it from it
            log.warning("%s %s: %s", route.service, route.action, error)
            raise GatewayError("INTEGRATION_FAILURE") from error
        except urllib3.exceptions.TimeoutError as error:
            raise GatewayError("INTEGRATION_TIMEOUT") from error
        except urllib3.exceptions.HTTPError as error:
            log.warning("%s %s: %s", route.service, route.action, error)
            raise GatewayError("INTEGRATION_FAILURE") from error
        finally:
            call.integration_span = (started, time.time())
            if admission is not None:
                admission.release()
        call.integration_status = response.status
        return response.status, dict(response.headers.items()), response.data.decode("utf-8", errors="replace")

    # -- answers

    def _gateway_response(self, error: GatewayError, call: _Call) -> Response:
        """The document's gateway response for the error's type, else its DEFAULT_4XX/DEFAULT_5XX, else
        API Gateway's own `{"message": ...}`. A type's status is its own unless the response sets one."""
        responses = self._document.get("x-amazon-apigateway-gateway-responses", {})
        default_status = _GATEWAY_DEFAULTS.get(error.response_type, (500, ""))[0]
        fallback = "DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX"
        config = responses.get(error.response_type) or responses.get(fallback) or {}
        call.context["error"] = {"message": error.message, "responseType": error.response_type}
        if error.validation_error is not None:
            call.context["error"]["validationErrorString"] = error.validation_error
        templates = config.get("responseTemplates") or {"application/json": _DEFAULT_GATEWAY_TEMPLATE}
        content_type, template = _pick_template(templates, call.request)
        body = render_gateway_response(template or "", context=call.context)
        headers = Headers({"Content-Type": content_type})
        if error.error_type:
            headers.set("x-amzn-ErrorType", error.error_type)
        sources = self._parameter_sources(call)
        for target, expression in config.get("responseParameters", {}).items():
            if target.startswith("gatewayresponse.header."):
                headers.set(target.removeprefix("gatewayresponse.header."), _parameter_value(expression, sources))
        return Response(body, status=int(config.get("statusCode", default_status)), headers=headers)

    def _parameter_sources(
        self, call: _Call, integration_headers: Mapping[str, str] | None = None
    ) -> dict[str, Mapping[str, str]]:
        flat_context = {name: str(value) for name, value in call.context.items() if not isinstance(value, dict)}
        return {
            "method.request.header": _lower_keys(call.params["header"]),
            "method.request.path": call.params["path"],
            "method.request.querystring": call.params["querystring"],
            "integration.response.header": _lower_keys(integration_headers or {}),
            "context": flat_context,
        }

    def _finish(self, call: _Call, response: Response) -> None:
        ended = time.time()
        response.headers["x-amzn-RequestId"] = call.context["requestId"]
        response.headers["x-amz-apigw-id"] = call.context["extendedRequestId"]
        if call.trace:
            response.headers["X-Amzn-Trace-Id"] = call.trace.header()
            if call.trace.sampled:
                send_segment(self._segment(call, response, ended))
        span = call.integration_span
        self._access_log.info(
            json.dumps(
                {
                    "requestId": call.context["requestId"],
                    "ip": call.context["identity"]["sourceIp"],
                    "requestTime": call.context["requestTime"],
                    "method": call.request.method,
                    "path": call.request.path,
                    "resourcePath": call.context["resourcePath"],
                    "status": response.status_code,
                    "responseLength": response.calculate_content_length(),
                    "latencyMs": round((ended - call.started) * 1000),
                    "integrationLatencyMs": round((span[1] - span[0]) * 1000) if span else None,
                    "integrationStatus": call.integration_status,
                    "traceId": call.context.get("xrayTraceId"),
                    "apiKeyId": call.api_key_id or None,
                    "caller": call.caller_arn or None,
                    "orderId": order_id(call.params.get("path", {}), response),
                    "error": call.context.get("error", {}).get("message"),
                }
            )
        )

    def _segment(self, call: _Call, response: Response, ended: float) -> dict[str, Any]:
        assert call.trace is not None
        status = response.status_code
        extra: dict[str, Any] = {"throttle": True} if status == 429 else {}
        if call.integration_span:
            start, end = call.integration_span
            extra["subsegments"] = [
                {"id": new_segment_id(), "name": call.span_name, "namespace": "aws", "start_time": start,
                 "end_time": end, "http": {"response": {"status": call.integration_status}}}
            ]  # fmt: skip
        return segment(
            name=self._segment_name,
            trace_id=call.trace.root,
            start=call.started,
            end=ended,
            parent_id=call.trace.parent,
            origin="AWS::ApiGateway::Stage",
            error=400 <= status < 500,
            fault=status >= 500,
            id=call.trace.segment_id,  # chosen up front: the integration was told it as its parent
            resource_arn=f"arn:aws:apigateway:{self._region}::/restapis/{self._spec.api_id}/stages/{self._spec.stage}",
            http={
                "request": {
                    "method": call.request.method,
                    "url": call.request.url,
                    "client_ip": call.context["identity"]["sourceIp"],
                    "user_agent": call.context["identity"]["userAgent"],
                },
                "response": {"status": status, "content_length": response.calculate_content_length()},
            },
            aws={
                "api_gateway": {
                    "account_id": self._account_id,
                    "rest_api_id": self._spec.api_id,
                    "stage": self._spec.stage,
                    "request_id": call.context["requestId"],
                }
            },
            **extra,
        )


def _pick_template(templates: Mapping[str, str], request: Request) -> tuple[str, str | None]:
    """API Gateway's choice of a response template: the one the Accept header names, else application/json,
    else the first. No template: the body passes through as application/json."""
    by_type = {name.lower(): (name, template) for name, template in templates.items()}
    for accepted, _quality in request.accept_mimetypes:
        if accepted.lower() in by_type:
            return by_type[accepted.lower()]
    if "application/json" in by_type:
        return by_type["application/json"]
    return next(iter(templates.items()), ("application/json", None))


def _parameter_value(expression: str, sources: Mapping[str, Mapping[str, str]]) -> str:
    """A parameter mapping's value: a 'literal', or `<source>.<name>` (method.request.header.X, ...)."""
    if len(expression) >= 2 and expression[0] == expression[-1] == "'":
        return expression[1:-1]
    prefix, _, name = expression.rpartition(".")
    if prefix not in sources:
        raise MappingTemplateError(f"unsupported parameter mapping expression {expression!r}")
    source = sources[prefix]
    return source.get(name, source.get(name.lower(), ""))


def _mock_status(rendered: str) -> int:
    """A mock integration's status: the statusCode its request template wrote, else 200 (the default response)."""
    try:
        document = json.loads(rendered) if rendered.strip() else {}
        return int(document.get("statusCode", 200)) if isinstance(document, dict) else 200
    except (TypeError, ValueError) as error:
        raise MappingTemplateError(f"mock integration: no statusCode in {rendered[:200]!r}") from error


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return _lower_keys(headers).get(name.lower())


def _lower_keys(values: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in values.items()}


def _short_id(text: str) -> str:
    """A stable stand-in for an API Gateway resource id."""
    return hashlib.sha256(text.encode()).hexdigest()[:6]


# ---------------------------------------------------------------------------------------------- entry points


def make_app(
    spec: RestApiSpec,
    *,
    aws_endpoint_url: str,
    region: str,
    account_id: str,
    access_log: logging.Logger | None = None,
    executions_at_once: int | None = None,
    role_credentials: Callable[[str], Credentials] | None = None,
    principals: PrincipalLookup | None = None,
    allows: PolicyCheck | None = None,
) -> WSGIApplication:
    """The stage of `spec` as a WSGI application calling AWS at `aws_endpoint_url`. `spec.definition` has its
    intrinsics resolved. One JSON access log line per request goes to `access_log` (default: the
    `saga_local.apigateway.access` logger). With tracing, the X-Ray segment is named `<name>/<stage>`, the name being
    `spec.extra["name"]` (the RestApi's Name) or the document's title. Raises UnsupportedDefinition for what is
    not emulated. A route with AWS_IAM authorization verifies SigV4 against `principals` (access key id ->
    principal; none: every signature is refused) and, given `allows`, checks execute-api:Invoke with it.

    `executions_at_once` (a local setting; None: no bound, as on AWS) bounds the integrations that start a Step
    Functions execution running at the same time: the others wait (up to ADMISSION_WAIT_SECONDS, then 504)
    before theirs starts, so an execution's time budget never pays for this machine's queue.

    `role_credentials(role_arn)`: the session of an integration's role (its `credentials`)."""
    return _ApiGateway(
        spec,
        aws_endpoint_url=aws_endpoint_url,
        region=region,
        account_id=account_id,
        access_log=access_log or logging.getLogger("saga_local.apigateway.access"),
        executions_at_once=executions_at_once,
        role_credentials=role_credentials,
        principals=principals,
        allows=allows,
    )
