"""What the access log record of a request adds to API Gateway's `$context` fields: the order it was about, for
the one line per request on the terminal of `saga-local up`."""

import contextlib
import json
from collections.abc import Mapping

from werkzeug.wrappers import Response


def order_id(path_parameters: Mapping[str, str], response: Response) -> str | None:
    """The order a request was about: its path's, else the one its JSON answer names (a new order's, or the order
    an error answer speaks of)."""
    if found := path_parameters.get("orderId"):
        return found
    if not (response.mimetype or "").endswith("json") or (response.content_length or 0) > 65536:
        return None
    with contextlib.suppress(ValueError, RuntimeError):  # not JSON after all, or a streamed body
        document = json.loads(response.get_data())
        named = document.get("orderId") if isinstance(document, dict) else None
        return named if isinstance(named, str) else None
    return None
