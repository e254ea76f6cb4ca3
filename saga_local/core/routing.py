"""The moto server's dispatcher, remembering which service a request goes to.

moto finds the service of each request by matching it against every service's URL patterns, under one lock:
most of a small request's CPU in a server under load. The answer depends only on the signature's service
and region (and the X-Amz-Target prefix that tells DynamoDB Streams apart), so for signed requests to the
services this stack uses, it is remembered. moto answers exactly as before.
"""

from collections.abc import Sequence
from functools import wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace

_ROUTED_BY_SIGNATURE = frozenset({"dynamodb", "sns", "sqs", "lambda", "states", "xray", "logs", "kms", "monitoring"})


def _route_key(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    path = environ.get("PATH_INFO", "")
    if not isinstance(path, str) or path.startswith(("/moto-api", "/latest/")):
        return None
    try:  # "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=..."
        _, _, region, service, _ = environ["HTTP_AUTHORIZATION"].split(",")[0].split()[1].split("/")
    except (KeyError, IndexError, ValueError):
        return None
    if service not in _ROUTED_BY_SIGNATURE:
        return None
    return region, service, environ.get("HTTP_X_AMZ_TARGET", "").split(".")[0]


def _changes() -> Sequence[Change]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    plain = DomainDispatcherApplication.get_application

    @wraps(plain)
    def get_application(self: Any, environ: dict[str, Any]) -> Any:
        key = _route_key(environ)
        if key is None:
            return plain(self, environ)
        routes = self.__dict__.setdefault("_routes_by_signature", {})
        app = routes.get(key)
        if app is None:
            app = routes[key] = plain(self, environ)
        return app

    return [Replace(DomainDispatcherApplication, "get_application", get_application)]


ROUTE_CACHE = Patch(
    name="server-route-cache",
    kind=Kind.SPEED,
    replaces="moto.moto_server.werkzeug_app.DomainDispatcherApplication.get_application: matches every "
    "service's URL patterns for each request",
    because="the service of a signed request depends only on its signature's service and region",
    changes=_changes,
)
