"""API Gateway's IAM authorization (`AWS_IAM`): the SigV4 signature of a request, checked as API Gateway checks
it, and the caller's `$context.identity`.

The signature is recomputed with botocore's own signer from the request and the secret of its access key (never
a signature of our own making), scoped to `execute-api` and the stage's region, at most 5 minutes from now; a
session's token must be the one its credentials were issued with. Then the caller's IAM policies must allow
`execute-api:Invoke` on the route's ARN (moto's policy evaluation). Each refusal is API Gateway's 403 with its
message; nothing about the secret or the expected signature beyond what API Gateway itself tells is answered.
"""

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = [
    "MAX_SKEW",
    "PolicyCheck",
    "Principal",
    "PrincipalLookup",
    "SignatureRejected",
    "check_invoke",
    "identity",
    "invoke_arn",
    "verify",
]

SERVICE = "execute-api"
MAX_SKEW = timedelta(minutes=5)
_ALGORITHM = "AWS4-HMAC-SHA256"
_PARTS = ("Credential", "SignedHeaders", "Signature")
_INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105  # nosec B105 - a message
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


class SignatureRejected(Exception):
    """API Gateway refuses the request before its integration: `response_type`, 403, and its message."""

    def __init__(self, response_type: str, message: str, error_type: str) -> None:
        super().__init__(message)
        self.response_type, self.message, self.error_type = response_type, message, error_type


@dataclass(frozen=True)
class Principal:
    """An access key's owner as IAM knows it: its secret (to recompute the signature), its session token if
    any, and what `$context.identity` tells of it."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    arn: str  # arn:aws:iam::<account>:user/<name>, or arn:aws:sts::<account>:assumed-role/<role>/<session>
    account_id: str
    user_id: str  # AIDA... for a user; AROA...:<session> for a role session
    session_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    policies: Sequence[Any] = ()  # its IAM policies, as the PolicyCheck given to check_invoke reads them


PrincipalLookup = Callable[[str], Principal | None]
PolicyCheck = Callable[[Sequence[Any], str, str], bool]  # (policies, action, resource) -> allowed


def invoke_arn(region: str, account_id: str, api_id: str, stage: str, method: str, path: str) -> str:
    """The resource an `execute-api:Invoke` statement names: the stage, the method and the request's path."""
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{method}{path}"


def verify(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    region: str,
    lookup: PrincipalLookup,
    now: datetime | None = None,
) -> Principal:
    """The principal that signed this request; raises SignatureRejected with API Gateway's answer otherwise.
    `url` is the request's URL as sent (scheme, host, path, query); `headers` its headers."""
    lower = {name.lower(): value for name, value in headers.items()}
    authorization = lower.get("authorization", "").strip()
    if not authorization:
        raise SignatureRejected(
            "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token", "MissingAuthenticationTokenException"
        )
    parts = _parse_authorization(authorization, lower)
    timestamp = _timestamp(lower)
    access_key_id = _check_scope(parts["Credential"], region, timestamp)
    now = now or datetime.now(UTC)
    _check_skew(timestamp, now)
    principal = lookup(access_key_id)
    if principal is None:
        raise SignatureRejected("UNRECOGNIZED_CLIENT", _INVALID_TOKEN, "UnrecognizedClientException")
    _check_session(principal, lower.get("x-amz-security-token"), now)
    canonical, string_to_sign, expected = _signature(
        method, url, lower, parts["SignedHeaders"], body, timestamp, principal, region
    )
    if not hmac.compare_digest(expected.encode(), parts["Signature"].encode()):
        # API Gateway tells the canonical request and string to sign it expected (no secret in either).
        message = (
            f"{_MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n"
        )
        raise SignatureRejected("INVALID_SIGNATURE", message, "InvalidSignatureException")
    return principal


def check_invoke(principal: Principal, resource: str, allowed: PolicyCheck) -> None:
    """Raises API Gateway's ACCESS_DENIED unless the principal's policies allow execute-api:Invoke on `resource`."""
    if not allowed(principal.policies, f"{SERVICE}:Invoke", resource):
        raise SignatureRejected(
            "ACCESS_DENIED",
            f"User: {principal.arn} is not authorized to perform: {SERVICE}:Invoke on resource: {resource}",
            "AccessDeniedException",
        )


def identity(principal: Principal) -> dict[str, Any]:
    """The `$context.identity` members API Gateway sets for an IAM-authorized request (no secret among them)."""
    return {
        "accessKey": principal.access_key_id,
        "accountId": principal.account_id,
        "caller": principal.user_id,
        "user": principal.user_id,
        "userArn": principal.arn,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
    }


# ---------------------------------------------------------------------------------------------- the pieces


def _parse_authorization(authorization: str, headers: Mapping[str, str]) -> dict[str, str]:
    algorithm, _, rest = authorization.partition(" ")
    parts: dict[str, str] = {}
    for piece in rest.split(","):
        name, equals, value = piece.strip().partition("=")
        if equals:
            parts[name] = value
    missing = [f"Authorization header requires '{name}' parameter." for name in _PARTS if not parts.get(name)]
    if "x-amz-date" not in headers and "date" not in headers:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if algorithm != _ALGORITHM or missing:
        # API Gateway echoes the header hashed, never as sent (it may carry a signature).
        digest = hashlib.sha256(authorization.encode()).hexdigest()
        raise _incomplete(f"{' '.join(missing)} Authorization={digest}".strip())
    return parts


def _check_scope(credential: str, region: str, timestamp: datetime) -> str:
    """The access key id of a credential scoped to execute-api, this region and the request's date."""
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete("Credential should be scoped to a valid region. ")
    access_key_id, date, scope_region, service, _ = scope
    if service != SERVICE:
        raise SignatureRejected(
            "INVALID_SIGNATURE", f"Credential should be scoped to correct service: '{SERVICE}'. ",
            "InvalidSignatureException",
        )  # fmt: skip
    if scope_region != region:
        raise SignatureRejected(
            "INVALID_SIGNATURE", "Credential should be scoped to a valid region. ", "InvalidSignatureException"
        )
    if timestamp.strftime("%Y%m%d") != date:
        raise SignatureRejected(
            "INVALID_SIGNATURE",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{date}' != '{timestamp.strftime('%Y%m%d')}', from '{timestamp.strftime(SIGV4_TIMESTAMP)}'.",
            "InvalidSignatureException",
        )
    return access_key_id


def _check_session(principal: Principal, token: str | None, now: datetime) -> None:
    """A user's key signs without a token; a role session's with the token it was issued, until it expires."""
    if principal.session_token is None:
        if token is not None:
            raise SignatureRejected("UNRECOGNIZED_CLIENT", _INVALID_TOKEN, "UnrecognizedClientException")
        return
    if token is None or not hmac.compare_digest(token.encode(), principal.session_token.encode()):
        raise SignatureRejected("UNRECOGNIZED_CLIENT", _INVALID_TOKEN, "UnrecognizedClientException")
    if principal.expires_at is not None and principal.expires_at <= now:
        raise SignatureRejected(
            "EXPIRED_TOKEN", "The security token included in the request is expired", "ExpiredTokenException"
        )


def _incomplete(message: str) -> SignatureRejected:
    return SignatureRejected("INVALID_SIGNATURE", message, "IncompleteSignatureException")


def _timestamp(headers: Mapping[str, str]) -> datetime:
    value = headers.get("x-amz-date", "")
    try:
        return datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise _incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        ) from None


def _check_skew(timestamp: datetime, now: datetime) -> None:
    stamp, current = timestamp.strftime(SIGV4_TIMESTAMP), now.strftime(SIGV4_TIMESTAMP)
    if timestamp < now - MAX_SKEW:
        earliest = (now - MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise SignatureRejected(
            "INVALID_SIGNATURE",
            f"Signature expired: {stamp} is now earlier than {earliest} ({current} - 5 min.)",
            "InvalidSignatureException",
        )
    if timestamp > now + MAX_SKEW:
        latest = (now + MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise SignatureRejected(
            "INVALID_SIGNATURE",
            f"Signature not yet current: {stamp} is still later than {latest} ({current} + 5 min.)",
            "InvalidSignatureException",
        )


def _signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    signed_headers: str,
    body: bytes,
    timestamp: datetime,
    principal: Principal,
    region: str,
) -> tuple[str, str, str]:
    """(canonical request, string to sign, signature) as botocore computes them over the signed headers."""
    names = [name for name in signed_headers.lower().split(";") if name]
    signed = {name: headers.get(name, "") for name in names}
    if "x-amz-content-sha256" in signed:
        # botocore trusts this header as the body's hash: it must be the body's hash.
        actual = hashlib.sha256(body).hexdigest()
        if signed["x-amz-content-sha256"] != actual:
            signed["x-amz-content-sha256"] = actual
    request = AWSRequest(method=method, url=url, data=body, headers=signed)
    request.context["timestamp"] = timestamp.strftime(SIGV4_TIMESTAMP)
    credentials = Credentials(principal.access_key_id, principal.secret_access_key, principal.session_token)
    signer = _Signer(credentials, SERVICE, region, names)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return canonical, string_to_sign, signer.signature(string_to_sign, request)


class _Signer(SigV4Auth):
    """botocore's SigV4 over exactly the headers the client signed (botocore would choose its own)."""

    def __init__(self, credentials: Credentials, service: str, region: str, names: list[str]) -> None:
        super().__init__(credentials, service, region)
        self._names = names

    def headers_to_sign(self, request: AWSRequest) -> Any:
        signed = super().headers_to_sign(request)
        for name in list(signed.keys()):
            if name not in self._names:
                del signed[name]
        for name in self._names:  # a header botocore never signs (user-agent, ...) that the client did sign
            if name not in signed:
                signed[name] = request.headers.get(name, "")
        return signed
