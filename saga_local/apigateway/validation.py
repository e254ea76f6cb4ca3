"""API Gateway's basic request validation for REST APIs, read from an OpenAPI 3.0 operation.

As API Gateway documents it: a required parameter (path, query string, header) must be present and not blank,
its type and format unchecked; the body is checked against the JSON Schema (draft 4) model of its content type,
and not at all when no model has that content type.
"""

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

__all__ = ["BodyValidator", "InvalidBody", "deref", "missing_parameters", "operation_parameters"]

_DOCUMENT_URI = "urn:openapi"


class InvalidBody(Exception):
    """The body breaks its model; `errors` name each field (`$.items[0].quantity: ...`)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def deref(document: Mapping[str, Any], node: Any) -> Any:
    """Follow a local `$ref` (`#/components/...`), as API Gateway's importer does for parameters and bodies."""
    return _follow(document, node, [])[0]


def _follow(document: Mapping[str, Any], node: Any, location: list[str]) -> tuple[Any, list[str]]:
    """`node` (found at `location`) with its `$ref`s followed, and the location where the target sits."""
    while isinstance(node, Mapping) and "$ref" in node:
        reference = str(node["$ref"])
        if not reference.startswith("#/"):
            raise ValueError(f"only local $ref are supported: {reference}")
        location = [part.replace("~1", "/").replace("~0", "~") for part in reference[2:].split("/")]
        node = document
        for part in location:
            node = node[part]
    return node, location


def operation_parameters(document: Mapping[str, Any], path: str, method: str) -> list[dict[str, Any]]:
    """The operation's parameters, path-item ones included unless the operation redefines them (OpenAPI rule)."""
    path_item = document["paths"][path]
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*path_item.get("parameters", []), *path_item[method].get("parameters", [])]:
        parameter = deref(document, raw)
        merged[(parameter["in"], parameter["name"].lower())] = parameter
    return list(merged.values())


def missing_parameters(parameters: list[dict[str, Any]], params: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Names of the required parameters absent or blank in `params` ({"path", "querystring", "header"})."""
    kinds = {"path": "path", "query": "querystring", "header": "header"}
    missing = []
    for parameter in parameters:
        kind = kinds.get(parameter["in"])
        if kind is None or not (parameter.get("required") or kind == "path"):
            continue  # cookie parameters: API Gateway has none
        values = params.get(kind, {})
        if kind == "header":  # HTTP header names are case-insensitive
            values = {name.lower(): value for name, value in values.items()}
        name = parameter["name"].lower() if kind == "header" else parameter["name"]
        if not str(values.get(name, "")).strip():
            missing.append(parameter["name"])
    return missing


class BodyValidator:
    """The models of one operation's request body by content type, `$ref`s resolved within the document."""

    def __init__(self, document: Mapping[str, Any], path: str, method: str) -> None:
        registry: Registry = Registry().with_resource(_DOCUMENT_URI, DRAFT4.create_resource(document))
        operation = document["paths"][path][method]
        body, location = _follow(document, operation.get("requestBody", {}), ["paths", path, method, "requestBody"])
        self._validators: dict[str, Draft4Validator] = {}
        for content_type, media in body.get("content", {}).items():
            if "schema" in media:
                # Point at the schema where it sits, so its `#/components/...` refs resolve in the document.
                pointer = _pointer(*location, "content", content_type, "schema")
                schema = {"$ref": f"{_DOCUMENT_URI}#{pointer}"}
                self._validators[content_type.lower()] = Draft4Validator(schema, registry=registry)

    def has_model(self, content_type: str) -> bool:
        return content_type.lower() in self._validators

    def validate(self, content_type: str, body: str) -> None:
        """Raise InvalidBody when `body` is not JSON or breaks the model of `content_type` (if it has one).
        An empty body is checked as `{}`, so a model's required properties are named."""
        validator = self._validators.get(content_type.lower())
        if validator is None:
            return
        try:
            instance = json.loads(body, parse_constant=_reject_constant) if body.strip() else {}
        except ValueError as error:
            raise InvalidBody([f"Invalid JSON: {error}"]) from error
        errors = [f"{_field(error.absolute_path)}: {error.message}" for error in validator.iter_errors(instance)]
        if errors:
            raise InvalidBody(errors)


def _pointer(*parts: str) -> str:
    """A JSON pointer as a URI fragment: `~` and `/` escaped, then percent-encoded (`{orderId}`)."""
    return "".join("/" + quote(part.replace("~", "~0").replace("/", "~1"), safe="~") for part in parts)


def _field(path: Any) -> str:
    """`$.items[0].quantity`: the JSONPath the mapping templates use, `$` for the body itself."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
