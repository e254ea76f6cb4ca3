"""The Lambda side of the emulated account: its concurrency quota, what functions reserve of it, and the
invocations in flight, as Lambda counts them.

    account = concurrency_account("123456789012", "us-east-1")  # the one moto's Lambda backend holds
    account.reserve("fn", 200)      # PutFunctionConcurrency: refused if < 100 would be left unreserved
    with account.admit("fn"):       # one invocation in flight; raises Throttled past the function's limit
        ...

A function with reserved concurrency runs up to exactly that; every other function shares what is left
(quota - sum of reservations). Past its limit an invocation is throttled at once (TooManyRequestsException),
never queued. The quota is AWS's default, 1,000, unless `SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA` sets another (10 is
what a new account may get).
"""

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace

DEFAULT_QUOTA = 1000  # Lambda's default "Concurrent executions" quota per account and region
UNRESERVED_MINIMUM = 100  # what Lambda keeps unreserved (a quota under 100 keeps all of it: "[10]" on a new account)
THROTTLED_MESSAGE = "Rate Exceeded."  # Lambda's message for both concurrency throttles
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"
RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"


class Throttled(Exception):
    """Lambda's TooManyRequestsException (HTTP 429): the function did not run. `reason` is its `Reason` field."""

    def __init__(self, reason: str) -> None:
        super().__init__(THROTTLED_MESSAGE)
        self.reason = reason


class ReservationRefused(ValueError):
    """Lambda's InvalidParameterValueException for a reservation the account cannot give."""


class ConcurrencyAccount:
    """One account's Lambda concurrency in one region. Thread-safe; function names are the keys."""

    def __init__(self, quota: int | None = None) -> None:
        self._reserved: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        self.quota = DEFAULT_QUOTA
        if quota is None:
            from saga_local.core import config

            quota = config.load().lambda_concurrency_quota
        self.set_quota(quota)

    def set_quota(self, quota: int) -> None:
        """What a Service Quotas change does (the local stack sets it before provisioning)."""
        if isinstance(quota, bool) or not isinstance(quota, int) or quota < 1:
            raise ValueError(f"a concurrency quota is a whole number >= 1, got {quota!r}")
        with self._lock:
            if quota - sum(self._reserved.values()) < min(UNRESERVED_MINIMUM, quota):
                raise ValueError(f"a quota of {quota} leaves under the unreserved minimum with today's reservations")
            self.quota = quota

    @property
    def unreserved_minimum(self) -> int:
        return min(UNRESERVED_MINIMUM, self.quota)

    # -- reservations (PutFunctionConcurrency, DeleteFunctionConcurrency)
    def reserve(self, function: str, concurrency: int) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 0:
            raise ReservationRefused(f"ReservedConcurrentExecutions must be a whole number >= 0, got {concurrency!r}")
        with self._lock:
            others = sum(n for name, n in self._reserved.items() if name != function)
            if self.quota - others - concurrency < self.unreserved_minimum:
                raise ReservationRefused(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{self.unreserved_minimum}]."
                )
            self._reserved[function] = concurrency

    def unreserve(self, function: str) -> None:
        with self._lock:
            self._reserved.pop(function, None)

    def reserved(self, function: str) -> int | None:
        with self._lock:
            return self._reserved.get(function)

    @property
    def unreserved(self) -> int:
        """UnreservedConcurrentExecutions: the quota less every reservation."""
        with self._lock:
            return self.quota - sum(self._reserved.values())

    # -- invocations
    @contextlib.contextmanager
    def admit(self, function: str) -> Iterator[None]:
        """One invocation of `function` in flight for the block; Throttled (before the block) past its limit."""
        with self._lock:
            reserved = self._reserved.get(function)
            if reserved is not None:
                if self._in_flight.get(function, 0) >= reserved:
                    raise Throttled(RESERVED_LIMIT)
            else:
                shared = sum(n for name, n in self._in_flight.items() if name not in self._reserved)
                if shared >= self.quota - sum(self._reserved.values()):
                    raise Throttled(ACCOUNT_LIMIT)
            self._in_flight[function] = self._in_flight.get(function, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[function] -= 1

    def in_flight(self, function: str | None = None) -> int:
        with self._lock:
            return self._in_flight.get(function, 0) if function else sum(self._in_flight.values())

    def limit(self, function: str) -> int:
        """How many invocations of `function` may run at once (with nothing else running)."""
        with self._lock:
            reserved = self._reserved.get(function)
            return reserved if reserved is not None else self.quota - sum(self._reserved.values())


def concurrency_account(account_id: str, region: str) -> ConcurrencyAccount:
    """The account moto's Lambda backend of that account and region holds (created on first use; a moto reset
    makes a new backend, and with it a new account)."""
    from moto.awslambda.models import lambda_backends

    backend: Any = lambda_backends[account_id][region]
    with _creating:
        account = backend.__dict__.get("_saga_local_concurrency")
        if account is None:
            account = backend.__dict__["_saga_local_concurrency"] = ConcurrencyAccount()
    return account


_creating = threading.Lock()


# ---------------------------------------------------------------- moto's Lambda API on this account

# Lambda's code storage limits (AccountLimit), as GetAccountSettings reports them on any account.
_CODE_LIMITS = {"TotalCodeSize": 80_530_636_800, "CodeSizeUnzipped": 262_144_000, "CodeSizeZipped": 52_428_800}


def _changes() -> Sequence[Change]:
    from moto.awslambda import urls
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.responses import LambdaResponse

    plain_delete = LambdaBackend.delete_function

    def put_function_concurrency(self: Any, function_name: str, reserved_concurrency: Any) -> int:
        fn = self.get_function(function_name)
        try:
            concurrency_account(self.account_id, self.region_name).reserve(fn.function_name, reserved_concurrency)
        except ReservationRefused as refused:
            raise InvalidParameterValueException(str(refused)) from None
        fn.reserved_concurrency = reserved_concurrency
        return int(reserved_concurrency)

    def delete_function_concurrency(self: Any, function_name: str) -> None:
        fn = self.get_function(function_name)
        concurrency_account(self.account_id, self.region_name).unreserve(fn.function_name)
        fn.reserved_concurrency = None

    def delete_function(self: Any, function_name: str, qualifier: str | None = None) -> None:
        if qualifier is None:  # the function goes, and its reservation with it
            with contextlib.suppress(Exception):
                concurrency_account(self.account_id, self.region_name).unreserve(
                    self.get_function(function_name).function_name
                )
        plain_delete(self, function_name, qualifier)

    def get_account_settings(self: Any) -> str:
        account = concurrency_account(self.current_account, self.region)
        functions = self.backend.list_functions()
        return json.dumps({
            "AccountLimit": {**_CODE_LIMITS, "ConcurrentExecutions": account.quota,
                             "UnreservedConcurrentExecutions": account.unreserved},
            "AccountUsage": {"TotalCodeSize": sum(int(fn.code_size or 0) for fn in functions),
                             "FunctionCount": len(functions)},
        })  # fmt: skip

    route = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"
    return [
        Replace(LambdaBackend, "put_function_concurrency", put_function_concurrency),
        Replace(LambdaBackend, "delete_function_concurrency", delete_function_concurrency),
        Replace(LambdaBackend, "delete_function", delete_function),
        Replace(LambdaResponse, "get_account_settings", get_account_settings),
        Replace(urls, "url_paths", {**urls.url_paths, route: LambdaResponse.dispatch}),
    ]


ACCOUNT_CONCURRENCY = Patch(
    name="lambda-account-concurrency",
    kind=Kind.GAP,
    replaces="moto.awslambda: PutFunctionConcurrency checks a quota only if MOTO_LAMBDA_CONCURRENCY_QUOTA is set, "
    "DeleteFunctionConcurrency and DeleteFunction leave it counted, and GetAccountSettings has no route (404)",
    because="the account's quota (SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA, 1,000 by default) and its reservations are "
    "what the local Lambda "
    "runtime throttles against; a reservation leaving under 100 unreserved fails as Lambda fails it, and "
    "GetAccountSettings reports ConcurrentExecutions and UnreservedConcurrentExecutions",
    changes=_changes,
)
