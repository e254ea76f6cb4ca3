"""Every AWS call the local endpoint serves passes through here, so what watches AWS traffic is written once:
listeners see each call and its reply (cost accounting), interceptors may answer a call instead of moto
(throttling faults). Nothing is installed until the first listener or interceptor is added.

    remove = aws_calls.add_listener(lambda call, reply, seconds: print(call.service, call.operation, reply[0]))
    remove = aws_calls.add_interceptor(lambda call: (400, {}, '{"__type": "ThrottlingException"}') if ... else None)
"""

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace

Reply = tuple[int, dict[str, Any], Any]  # status, headers, body: what moto's handlers return
Listener = Callable[["AwsCall", Reply, float], None]
Interceptor = Callable[["AwsCall"], Reply | None]

_listeners: list[Listener] = []
_interceptors: list[Interceptor] = []
_lock = threading.Lock()


@dataclass(frozen=True)
class AwsCall:
    service: str  # boto3's name: "dynamodb", "sns", "sqs", "lambda", "stepfunctions", ...
    operation: str  # the API's name: "PutItem", "Publish", "Invoke", ...
    handler: Any  # moto's response handler: .body, .headers, .region, .current_account, its backend

    @property
    def region(self) -> str:
        return str(self.handler.region)

    @property
    def account_id(self) -> str:
        return str(self.handler.current_account)


def add_listener(listener: Listener) -> Callable[[], None]:
    """Call `listener(call, reply, seconds)` after every call moto answers; returns its remover."""
    return _add(_listeners, listener)


def add_interceptor(interceptor: Interceptor) -> Callable[[], None]:
    """Ask `interceptor(call)` before moto runs a call: a reply it returns is sent instead."""
    return _add(_interceptors, interceptor)


def _add(registry: list[Any], item: Any) -> Callable[[], None]:
    _install()
    with _lock:
        registry.append(item)

    def remove() -> None:
        with _lock:
            if item in registry:
                registry.remove(item)

    return remove


def _install() -> None:
    AWS_CALL_HOOK.apply()


def _changes() -> Sequence[Change]:
    from moto.core.responses import BaseResponse

    plain = BaseResponse._dispatch

    def _dispatch(self: Any, request: Any, full_url: str | None = None, headers: Any = None) -> Any:
        if not _listeners and not _interceptors:
            return plain(self, request, full_url, headers)
        self.setup_class(request, full_url, headers)
        call = AwsCall(self.boto3_service_name, self._get_action() or "", self)
        for interceptor in list(_interceptors):
            reply = interceptor(call)
            if reply is not None:
                return reply
        started = time.perf_counter()
        reply = self.call_action()
        elapsed = time.perf_counter() - started
        for listener in list(_listeners):
            listener(call, reply, elapsed)
        return reply

    return [Replace(BaseResponse, "_dispatch", _dispatch)]


AWS_CALL_HOOK = Patch(
    name="aws-call-hook",
    kind=Kind.FEATURE,
    replaces="moto.core.responses.BaseResponse._dispatch: runs the action, with nothing to watch or answer first",
    because="the cost meter counts every call's billable units and fault injection throttles chosen operations; "
    "installed by the first listener or interceptor, a plain pass-through without them",
    changes=_changes,
    by_default=False,
)
