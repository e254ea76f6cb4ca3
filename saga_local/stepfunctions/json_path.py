"""Definite JSONPaths select one value, as in Step Functions."""

import sys
from collections.abc import Sequence
from functools import cache, wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace


@cache
def _parsed_json_path(path: str) -> Any:
    from jsonpath_ng.ext import parse

    return parse(path)


def _is_definite(node: Any) -> bool:
    """Only names and single literal indices, like `$[0].invoiceId` or `$.items[2].sku`."""
    from jsonpath_ng.jsonpath import Child, Fields, Index, Root

    if isinstance(node, Root):
        return True
    if isinstance(node, Child):
        return _is_definite(node.left) and _is_definite(node.right)
    if isinstance(node, Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    return isinstance(node, Index) and len(node.indices) == 1


def _changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.utils import json_path

    moto_extract_json = json_path.extract_json

    @wraps(moto_extract_json)
    def extract_json(path: str, data: Any) -> Any:
        expression = _parsed_json_path(path)
        if _is_definite(expression):
            matches = expression.find(data)
            if len(matches) == 1:
                return matches[0].value
        return moto_extract_json(path, data)

    # The interpreter's modules imported the function by name: rebind it where they hold it.
    holders = [
        module
        for module in list(sys.modules.values())
        if getattr(module, "__dict__", {}).get("extract_json") is moto_extract_json
    ]
    return [Replace(module, "extract_json", extract_json) for module in holders]


DEFINITE_JSON_PATHS = Patch(
    name="sfn-definite-json-paths",
    kind=Kind.GAP,
    replaces="moto.stepfunctions.parser.asl.utils.json_path.extract_json: wraps the value in a list whenever an "
    "index precedes the last step (its fix for getmoto/moto#7825, meant for filters)",
    because='a Parallel state\'s `"invoiceId.$": "$[0].invoiceId"` must give the value, not ["inv_..."]',
    changes=_changes,
)
