"""CloudFormation intrinsic functions, resolved against what the local stack created.

Enough of the language for templates like this one: Ref, Fn::GetAtt, Fn::Sub (both forms), Fn::Join,
Fn::Select, Fn::Split, Fn::If with Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or), Fn::GetAZs,
Fn::Base64. Anything else raises, naming the function, rather than guessing. Provisioning and the API
emulator (for the OpenAPI document's integrations) both resolve with this one.
"""

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
NO_VALUE = object()  # AWS::NoValue: the property is removed


class UnresolvableError(ValueError):
    pass


class Resolver:
    def __init__(
        self,
        *,
        refs: dict[str, Any],
        attribute: Callable[[str, str], Any],
        conditions: dict[str, Any] | None = None,
    ) -> None:
        """`refs`: parameter, pseudo parameter and resource logical id -> what Ref returns.
        `attribute(logical_id, name)`: what Fn::GetAtt returns."""
        self.refs = refs
        self.attribute = attribute
        self._condition_definitions = conditions or {}
        self._conditions: dict[str, bool] = {}

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "Resolver":
        """A resolver over a flat mapping: logical id or parameter -> Ref, `Id.Attribute` -> Fn::GetAtt."""

        def attribute(logical_id: str, name: str) -> Any:
            try:
                return values[f"{logical_id}.{name}"]
            except KeyError:
                raise UnresolvableError(f"Fn::GetAtt {logical_id}.{name}: no value given") from None

        return cls(refs=dict(values), attribute=attribute)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self._condition_definitions[name]))
        return self._conditions[name]

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return self._function(key, value)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, name: str, value: Any) -> Any:
        if name == "Ref":
            if value == "AWS::NoValue":
                return NO_VALUE
            if value not in self.refs:
                raise UnresolvableError(f"Ref {value}: not a parameter, pseudo parameter or created resource")
            return self.refs[value]
        if name == "Condition":
            return self.condition(value)
        if name == "Fn::GetAtt":
            logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
            return self.attribute(logical_id, self.resolve(attribute))
        if name == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1]))
            substituted = _SUB_VARIABLE.sub(lambda m: str(self._sub_variable(m.group(1), variables)), text)
            return substituted.replace("${!", "${")  # ${!Literal} stands for ${Literal}
        if name == "Fn::Join":
            separator, items = value
            return separator.join(str(item) for item in self.resolve(items))
        if name == "Fn::Select":
            index, items = self.resolve(value)
            return items[int(index)]
        if name == "Fn::Split":
            separator, text = self.resolve(value)
            return text.split(separator)
        if name == "Fn::If":
            condition, when_true, when_false = value
            return self.resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::Equals":
            left, right = self.resolve(value)
            return _cfn_string(left) == _cfn_string(right)
        if name == "Fn::Not":
            return not self.resolve(value[0])
        if name == "Fn::And":
            return all(self.resolve(value))
        if name == "Fn::Or":
            return any(self.resolve(value))
        if name == "Fn::GetAZs":
            region = self.resolve(value) or self.refs["AWS::Region"]
            return [f"{region}{zone}" for zone in "abc"]
        if name == "Fn::Base64":
            return base64.b64encode(str(self.resolve(value)).encode()).decode()
        raise UnresolvableError(f"{name} is not supported by the local stack")

    def _sub_variable(self, name: str, variables: dict[str, Any]) -> Any:
        if name in variables:
            return variables[name]
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.attribute(logical_id, attribute)
        return self._function("Ref", name)


def _cfn_string(value: Any) -> Any:
    """Fn::Equals compares values as CloudFormation passes them, as strings: a Number parameter's 0 equals "0"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value
