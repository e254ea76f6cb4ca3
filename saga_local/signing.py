"""Signing requests to the order API with SigV4 (service `execute-api`), as every client here does: the e2e
tests, Locust, the chaos run, the fuzzer. botocore's signer does the work; this only says what to sign.

    caller = Caller.from_outputs(json.loads(Path(".local/outputs.json").read_text()))   # Callers[0]
    headers = sign("POST", url, body, {"Idempotency-Key": key}, caller)
    requests.post(url, data=body, headers=headers)          # or auth=SigV4Auth(caller) with requests
"""

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["SERVICE", "Caller", "RequestsSigV4", "sign", "signed_request"]

SERVICE = "execute-api"


@dataclass(frozen=True)
class Caller:
    """One IAM principal's credentials (an entry of `Callers` in the local stack's outputs)."""

    name: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    arn: str | None = None  # the principal's ARN (outputs' `Arn`): who the API says placed an order, see `owner`

    @classmethod
    def from_output(cls, entry: Mapping[str, Any], region: str = "us-east-1") -> "Caller":
        return cls(
            name=str(entry.get("Name", entry["AccessKeyId"])),
            access_key_id=entry["AccessKeyId"],
            secret_access_key=entry["SecretAccessKey"],
            session_token=entry.get("SessionToken"),
            region=region,
            arn=entry.get("Arn"),
        )

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], index: int = 0) -> "Caller":
        """The `index`-th of the outputs' `Callers` (the first is the README's)."""
        callers = outputs.get("Callers") or []
        if len(callers) <= index:
            raise KeyError(f"the outputs have {len(callers)} Callers; no caller #{index}")
        return cls.from_output(callers[index], str(outputs.get("Region", "us-east-1")))

    @property
    def owner(self) -> str | None:
        """The caller its orders and Idempotency-Keys belong to, as the API passes it to the saga (api/openapi.yaml):
        an IAM user's ARN; for a role session the role's (`...:assumed-role/NAME`, the session name dropped), so
        every session of one role shares them. None when the ARN is not known."""
        if self.arn and ":assumed-role/" in self.arn:
            return self.arn.rsplit("/", 1)[0]
        return self.arn

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key_id, self.secret_access_key, self.session_token)


def sign(method: str, url: str, body: bytes | None, headers: Mapping[str, str], caller: Caller) -> dict[str, str]:
    """`headers` plus the SigV4 ones (Authorization, X-Amz-Date, X-Amz-Security-Token) for this exact request:
    send the same method, URL, body and headers."""
    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
    SigV4Auth(caller.credentials, SERVICE, caller.region).add_auth(request)
    return dict(request.headers.items())


class RequestsSigV4(requests.auth.AuthBase):
    """`requests` authentication (Locust's HttpSession, schemathesis): signs each prepared request."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        raw = request.body
        body = raw.encode() if isinstance(raw, str) else raw if isinstance(raw, bytes) else b""
        # Only what the request will carry as sent is signed; requests adds no header after auth but
        # Content-Length, which botocore does not sign either.
        headers = {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in request.headers.items()
            if name.lower() != "content-length"
        }
        request.headers.update(sign(request.method or "GET", request.url or "", body, headers, self.caller))
        return request


def signed_request(method: str, url: str, body: bytes | None, headers: Mapping[str, str], caller: Caller) -> Any:
    """A `urllib.request.Request` signed as `caller`: for the scripts that call the API with the standard library."""
    return urllib.request.Request(url, data=body, method=method, headers=sign(method, url, body, headers, caller))  # noqa: S310 - the caller's URL
