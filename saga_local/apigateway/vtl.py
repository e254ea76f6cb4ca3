"""API Gateway (REST) mapping templates rendered with airspeed: `$input`, `$util`, `$context`, `$stageVariables`.

What API Gateway gives a template, as its documentation describes it, and nothing specific to one API:

- `$input.body`, `$input.json(path)`, `$input.path(path)`, `$input.params()` and `$input.params(name)`
  (path, then query string, then header; header names match case-insensitively, as HTTP says).
- `$util.escapeJavaScript` (Apache Commons `StringEscapeUtils.escapeJavaScript`), `parseJson`, `urlEncode`,
  `urlDecode`, `base64Encode`, `base64Decode`.
- `$context` as the caller gives it, plus `responseOverride.status`, `responseOverride.header.<Name>` and
  `requestOverride.{header,path,querystring}.<name>`. An override may be set once: API Gateway answers 5XX
  to a template that sets one twice, and so does `render` (it raises `MappingTemplateError`).

Two airspeed behaviours are corrected to Velocity's: `#if($null)` is false and `!$null` is true. Java string
methods that templates commonly call and airspeed lacks (`toLowerCase`, ...) are registered with airspeed.
Still different from API Gateway's Velocity, so portable templates avoid them: printing a whole map or list
(Python's form, not Java's `{a=1}`: print JSON with `$input.json`), `#set($x = $null)` (Velocity keeps the
old value) and the truth of "" (test `$x == ""` instead).
"""

import base64
import functools
import itertools
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import airspeed
from airspeed import operators

__all__ = [
    "MappingTemplateError",
    "RenderResult",
    "escape_javascript",
    "json_path",
    "render",
    "render_gateway_response",
]


class MappingTemplateError(Exception):
    """The template could not be rendered; API Gateway would answer 500 (API_CONFIGURATION_ERROR)."""


@dataclass(frozen=True)
class RenderResult:
    body: str
    status_override: int | None = None
    header_overrides: dict[str, str] = field(default_factory=dict)
    # requestOverride.{header,path,querystring}: only request templates set these.
    request_overrides: dict[str, dict[str, str]] = field(default_factory=dict)


def render(
    template: str,
    *,
    body: str = "",
    params: Mapping[str, Mapping[str, str]] | None = None,
    context: Mapping[str, Any] | None = None,
    stage_variables: Mapping[str, str] | None = None,
) -> RenderResult:
    """Render one mapping template. `params` is `{"path": {...}, "querystring": {...}, "header": {...}}`."""
    response_override = _OverrideMap(header=_OverrideMap())
    request_override = _OverrideMap(header=_OverrideMap(), path=_OverrideMap(), querystring=_OverrideMap())
    namespace = {
        "input": _Input(body, params or {}),
        "util": _Util(),
        "context": {
            "requestId": str(uuid.uuid4()),
            "identity": {},
            **(context or {}),
            "responseOverride": response_override,
            "requestOverride": request_override,
        },
        "stageVariables": dict(stage_variables or {}),
    }
    try:
        rendered = _compile(template).merge(namespace)
        status = response_override.get("status")
        status_override = None if status in (None, "") else int(status)
    except Exception as error:  # airspeed's syntax errors, whatever a call in the template raised, a bad status
        raise MappingTemplateError(str(error)) from error
    return RenderResult(
        body=rendered,
        status_override=status_override,
        header_overrides={name: str(value) for name, value in response_override["header"].items()},
        request_overrides={
            kind: {name: str(value) for name, value in request_override[kind].items()}
            for kind in ("header", "path", "querystring")
            if request_override[kind]
        },
    )


def render_gateway_response(
    template: str, *, context: Mapping[str, Any], stage_variables: Mapping[str, str] | None = None
) -> str:
    """A gateway response template: not VTL, only `$context.a.b` and `$stageVariables.x` substitution.
    Unknown variables render empty; `messageString` is the JSON-quoted message and `validationErrorString`
    is JSON-escaped (not quoted), so both can sit inside a JSON body."""
    error = dict(context.get("error", {}))
    message = str(error.get("message", ""))
    error.setdefault("messageString", json.dumps(message, ensure_ascii=False))
    if "validationErrorString" in error:
        error["validationErrorString"] = json.dumps(str(error["validationErrorString"]), ensure_ascii=False)[1:-1]
    variables = {"context": {**context, "error": error}, "stageVariables": dict(stage_variables or {})}

    def substitute(match: re.Match[str]) -> str:
        value: Any = variables
        for name in match.group(1).split("."):
            value = value.get(name) if isinstance(value, Mapping) else None
        return "" if value is None else str(value)

    return re.sub(r"\$((?:context|stageVariables)(?:\.[A-Za-z0-9_-]+)+)", substitute, template)


# ---------------------------------------------------------------------------------------------- $util


def escape_javascript(value: str) -> str:
    """Apache Commons Lang `StringEscapeUtils.escapeJavaScript`, which `$util.escapeJavaScript` is: escapes
    ' " \\ / and control characters, and every UTF-16 unit above 0x7F as \\uXXXX (upper-case hex)."""
    out = []
    for unit in _utf16_units(value):
        char = chr(unit)
        if unit > 0x7F:
            out.append(f"\\u{unit:04X}")
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif unit < 0x20:
            out.append(f"\\u{unit:04X}")
        else:
            out.append(char)
    return "".join(out)


_SHORT_ESCAPES = {
    "'": "\\'",
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\n": "\\n",
    "\t": "\\t",
    "\f": "\\f",
    "\r": "\\r",
}


def _utf16_units(value: str) -> Iterator[int]:
    """Java strings are UTF-16: a character outside the BMP is two units, escaped one by one."""
    data = value.encode("utf-16-be", "surrogatepass")
    for high, low in itertools.batched(data, 2, strict=True):
        yield high << 8 | low


class _Util:
    def escapeJavaScript(self, value: Any) -> str | None:  # noqa: N802 - the name templates call
        return None if value is None else escape_javascript(str(value))

    def parseJson(self, value: str) -> Any:  # noqa: N802
        try:
            return json.loads(value)
        except (TypeError, ValueError) as error:
            raise MappingTemplateError(f"$util.parseJson: not JSON: {value!r}") from error

    def urlEncode(self, value: str) -> str:  # noqa: N802
        # java.net.URLEncoder: space as +, and only A-Z a-z 0-9 . - * _ left as they are (so ~ is encoded).
        return quote_plus(value, safe="*").replace("~", "%7E")

    def urlDecode(self, value: str) -> str:  # noqa: N802
        return unquote_plus(value)

    def base64Encode(self, value: str) -> str:  # noqa: N802
        return base64.b64encode(value.encode()).decode()

    def base64Decode(self, value: str) -> str:  # noqa: N802
        return base64.b64decode(value).decode()


# ---------------------------------------------------------------------------------------------- $input


class _Input:
    def __init__(self, body: str, params: Mapping[str, Mapping[str, str]]) -> None:
        self.body = body
        self._params = {kind: dict(params.get(kind, {})) for kind in ("path", "querystring", "header")}
        self._document: Any = None
        self._parsed = False

    def json(self, path: str) -> str:
        return json.dumps(self.path(path), ensure_ascii=False, separators=(",", ":"))

    def path(self, path: str) -> Any:
        return json_path(self._root(), path)

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self._params
        for kind in ("path", "querystring"):
            if name in self._params[kind]:
                return self._params[kind][name]
        headers = {header.lower(): value for header, value in self._params["header"].items()}
        return headers.get(name.lower(), "")

    def _root(self) -> Any:
        if not self._parsed:
            try:
                # An empty payload reads as an empty object, as API Gateway's $input.json('$') gives {}.
                self._document = json.loads(self.body) if self.body.strip() else {}
            except ValueError as error:
                raise MappingTemplateError(f"$input: the body is not JSON: {error}") from error
            self._parsed = True
        return self._document


_JSON_PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def json_path(document: Any, path: str) -> Any:
    """The JSONPath subset templates use: `$`, `.name`, `['name']`, `[index]`. Absent values are None."""
    if not path.startswith("$"):
        raise MappingTemplateError(f"unsupported JSONPath {path!r}: it must start with $")
    position, value = 1, document
    while position < len(path):
        step = _JSON_PATH_STEP.match(path, position)
        if step is None:
            raise MappingTemplateError(f"unsupported JSONPath {path!r} at {path[position:]!r}")
        position = step.end()
        name, index, quoted, double_quoted = step.groups()
        if index is not None:
            value = value[int(index)] if isinstance(value, list) and -len(value) <= int(index) < len(value) else None
        else:
            key = next(part for part in (name, quoted, double_quoted) if part is not None)
            value = value.get(key) if isinstance(value, dict) else None
    return value


# ---------------------------------------------------------------------------------------------- overrides


class _OverrideMap(dict):
    """Overrides are final in API Gateway: a second assignment to the same one is an error."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self:
            raise MappingTemplateError(f"override {key!r} set twice; API Gateway answers 5XX")
        super().__setitem__(key, value)


# ---------------------------------------------------------------------------------------------- airspeed


# Java String methods templates call that airspeed does not provide (it maps a few, e.g. replaceAll, matches).
for _name, _method in {
    "toLowerCase": str.lower,
    "toUpperCase": str.upper,
    "trim": str.strip,
    "endsWith": str.endswith,
    "isEmpty": lambda self: not self,
    "equals": lambda self, other: self == other,
    "equalsIgnoreCase": lambda self, other: isinstance(other, str) and self.lower() == other.lower(),
}.items():
    operators.__additional_methods__[str].setdefault(_name, _method)


@functools.lru_cache(maxsize=128)
def _compile(template: str) -> airspeed.Template:
    """Parse once per template text (parsing is most of a render's cost); merging a parsed template is
    read-only, so threads share it."""
    compiled = airspeed.Template(template)
    compiled.ensure_compiled()
    _use_velocity_nulls(compiled.root_element, set())
    return compiled


def _use_velocity_nulls(element: Any, seen: set[int]) -> None:
    """airspeed evaluates `#if($null)` as true and `!$null` as false; Velocity the other way round.
    Patch this template's own parse tree (never airspeed's classes) so null is false."""
    if id(element) in seen:
        return
    seen.add(id(element))
    for value in list(vars(element).values()):
        if isinstance(value, dict):  # a dictionary literal: elements as keys and values
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:  # some elements keep only a child's bound `calculate`: the child is its __self__
            children = [getattr(value, "__self__", value)]
        for child in children:
            if isinstance(child, operators._Element):
                _use_velocity_nulls(child, seen)
    if isinstance(element, operators.Condition):
        expression = element.expression
        element.calculate = lambda namespace, loader: bool(expression.calculate(namespace, loader))
    elif isinstance(element, operators.ElseifBlock):
        element.calculate = element.condition.calculate  # airspeed bound the unpatched one at parse time
    elif isinstance(element, operators.UnaryOperatorValue):
        operand, negate = element.value, element.op
        element.calculate = lambda namespace, loader: negate(operand.calculate(namespace, loader))
