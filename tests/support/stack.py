"""The local stack as the e2e tests drive it: its API (signed as a local caller), its AWS endpoint, its command."""

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from reliability.invariants import key_record_id
from saga_local.signing import Caller, sign
from tests.support.paths import ROOT

START_TIMEOUT_SECONDS = 90


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalStackHandle:
    api_url: str
    api_key: str
    endpoint_url: str
    outputs: dict[str, Any]
    state: dict[str, Any]
    state_dir: Path
    environment: dict[str, str]

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]  # dynamic service name: boto3-stubs type literal names only
            service,
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(inject_host_prefix=False),
        )

    def table(self, logical_id: str) -> Any:
        resource = boto3.resource(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        return resource.Table(self.state["refs"][logical_id])

    def caller(self, index: int = 0) -> Caller:
        """The `index`-th local caller of the outputs (0: the README's)."""
        return Caller.from_outputs(self.outputs, index)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        api_key: bool = True,
        caller: Caller | int | None = 0,
    ) -> Response:
        """Signed as `caller` (a Caller, or the index of one in the outputs; None: unsigned)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json", **({"x-api-key": self.api_key} if api_key else {})}
        all_headers.update(headers or {})
        if caller is not None:
            signer = self.caller(caller) if isinstance(caller, int) else caller
            all_headers = sign(method, self.api_url + path, data, all_headers, signer)
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        for name, value in all_headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Response(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())

    def place_order(
        self,
        *items: tuple[str, int],
        token: str = "tok_visa",
        key: str | None = None,
        customer: str = "c-1",
        caller: Caller | int | None = 0,
    ) -> tuple[Response, str]:
        key = key or f"key-{uuid.uuid4()}"
        body = {
            "customerId": customer,
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
            "payment": {"token": token},
        }
        return self.request("POST", "/orders", body, headers={"Idempotency-Key": key}, caller=caller), key

    def order_id_of(self, key: str, caller: int = 0) -> str:
        """The order a caller's Idempotency-Key names, found as a replay finds it: through the key's record (the id is
        random, it cannot be computed from the key)."""
        owner = self.caller(caller).owner or ""
        record_id = key_record_id(owner, key)
        record = self.table("OrdersTable").get_item(Key={"orderId": record_id}, ConsistentRead=True).get("Item")
        assert record, f"no order claimed for key {key!r} of {owner}"
        return str(record["targetOrderId"])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "saga_local", *args],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
