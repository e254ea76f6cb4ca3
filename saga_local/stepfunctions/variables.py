"""Step Functions variables (`Assign`, `$name`) and JSONata states, evaluated as Step Functions does.

moto 5.2.5 parses `QueryLanguage: JSONata` and `Assign` and stores assigned variables, but evaluates every read of a
variable and every JSONata expression through an evaluator it ships unwired (`_eval_jsonata = None`): reading `$x` in
a JSONPath state fails with a TypeError, a Choice on a variable silently takes Default, and `$hash` or `$uuid` would
answer a placeholder string. This patch evaluates them here:

- a JSONPath read (`"x.$": "$name.field"` in Parameters, ResultSelector, ItemsPath, a Choice's Variable or `...Path`
  operand, an intrinsic function's argument) is a JSONPath rooted at the variable, as in Step Functions; a variable
  that is not in scope fails the state with States.Runtime, and a Choice rule on it (other than IsPresent) fails with
  Step Functions' "Invalid path" cause instead of taking Default;
- a JSONata expression (`{% ... %}`) runs on jsonata-python (JSONata in pure Python) with `$states` and every
  variable in scope bound, never by splicing values into the expression's text; one that returns nothing fails with
  States.QueryEvaluationError and Step Functions' cause ("... returned nothing (undefined)."), naming the field;
- Step Functions' own JSONata functions are implemented as AWS documents them ($partition, $range, $hash, $uuid,
  $parse, $random without a seed); what the local stack cannot reproduce exactly ($random with a seed, $eval, which
  Step Functions does not offer) fails the state with a cause naming the function, never a made-up value;
- a Choice rule's Assign applies when the rule matches and reads the state input (moto's parser dropped it from a
  JSONPath rule, and evaluated an And/Or rule's against the rule's boolean result); the state's own Assign applies
  only when no rule matched (moto also ran it when the matching rule's Next was the Default state); a `...Path`
  operand read from a variable is compared as written (moto swapped the two sides);
- every Assign of a state reads the variables as they were when the state was entered, and the new values are
  visible from the next state on (moto stored them at once, so the state's own Output or OutputPath saw them);
- one variable, and one Assign altogether, may hold at most 256 KiB (States.DataLimitExceeded beyond).

Scopes are moto's: a Parallel branch or Map iteration reads the variables around it, and what it assigns stays inside.
"""

import copy
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace

VARIABLE_SIZE_LIMIT = 256 * 1024  # bytes of JSON: one variable, and all that one Assign assigns
_PENDING = "_saga_pending_assignments"  # on a VariableStore: what the current state assigns when it exits
_FIELDS = "_saga_field_path"  # on an Environment: the ASL fields being evaluated, outermost first
_CHOICE_DEFAULT = "_saga_choice_took_default"  # on an Environment: whether the Choice being evaluated took Default
_VARIABLE_READ = re.compile(r"\$(?P<name>[^.\[\s]+)(?P<path>.*)", re.DOTALL)
_HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


class JSONataFunctionError(Exception):
    """A JSONata function given what it refuses, or one the local stack does not reproduce; the state fails with
    States.QueryEvaluationError and this message in its cause."""


class _UnsupportedResult(Exception):
    """A JSONata result that is not JSON (a function)."""


class _MissingVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


# --- Step Functions' JSONata functions -----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value from jsonata-python (its sequences, its null) as plain JSON data."""
    from jsonata.utils import Utils

    return Utils.convert_nulls(json.loads(json.dumps(Utils.convert_nulls(value))))


def _integer(function: str, argument: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise JSONataFunctionError(f"${function}: {argument} must be an integer, got {json.dumps(_plain(value))}")
    return int(value)


def _partition(array: Any = None, size: Any = None) -> list[Any]:
    """`$partition(array, size)`: the array cut into chunks of `size` items (the last may be shorter)."""
    items = _plain(array)
    if not isinstance(items, list):
        raise JSONataFunctionError("$partition: the first argument must be an array")
    chunk = _integer("partition", "the chunk size", size)
    if chunk <= 0:
        raise JSONataFunctionError("$partition: the chunk size must be greater than 0")
    return [items[start : start + chunk] for start in range(0, len(items), chunk)]


def _range(start: Any = None, end: Any = None, step: Any = None) -> list[int]:
    """`$range(start, end, step)`: from start to end included, by step."""
    first, last = _integer("range", "the start", start), _integer("range", "the end", end)
    by = _integer("range", "the step", step)
    if by == 0:
        raise JSONataFunctionError("$range: the step must not be 0")
    return list(range(first, last + (1 if by > 0 else -1), by))


def _hash(data: Any = None, algorithm: Any = None) -> str:
    """`$hash(data, algorithm)`: the hex digest of a string, by MD5, SHA-1, SHA-256, SHA-384 or SHA-512."""
    if not isinstance(data, str):
        raise JSONataFunctionError("$hash: the data to hash must be a string")
    if algorithm not in _HASH_ALGORITHMS:
        raise JSONataFunctionError(f"$hash: the algorithm must be one of {', '.join(_HASH_ALGORITHMS)}")
    return hashlib.new(_HASH_ALGORITHMS[algorithm], data.encode("utf-8")).hexdigest()


def _random(seed: Any = None) -> float:
    """`$random()`: a number from 0 (included) to 1 (excluded). With a seed, Step Functions answers a number of its
    own sequence, which the local stack cannot reproduce: that fails rather than answer a different number."""
    if seed is not None:
        raise JSONataFunctionError(
            "$random with a seed is not reproduced by the local stack (Step Functions' seeded sequence is its own); "
            "use $random() without a seed"
        )
    return random.random()  # noqa: S311  # not for security: JSONata's $random


def _uuid() -> str:
    """`$uuid()`: a version 4 UUID."""
    return str(uuid.uuid4())


def _parse(text: Any = None) -> Any:
    """`$parse(json)`: the JSON text as data."""
    if not isinstance(text, str):
        raise JSONataFunctionError("$parse: the argument must be a string holding JSON")
    try:
        return json.loads(text)
    except ValueError as error:
        raise JSONataFunctionError(f"$parse: the string is not JSON ({error})") from error


def _eval(*_: Any) -> Any:
    raise JSONataFunctionError("$eval is not available in Step Functions' JSONata (use $parse)")


AWS_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "partition": _partition,
    "range": _range,
    "hash": _hash,
    "random": _random,
    "uuid": _uuid,
    "parse": _parse,
    "eval": _eval,
}


# --- Evaluation ------------------------------------------------------------------------------------------------


def _in_scope(env: Any) -> dict[str, Any]:
    """Every variable the state can read: the outer scopes' first, then its own (which may not repeat them)."""
    store = env.variable_store
    return {**store._outer_scope, **store._inner_scope}


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def evaluate_jsonata(expression: str, variables: dict[str, Any], states: dict[str, Any]) -> tuple[bool, Any]:
    """(True, value) or (False, None) when the expression returns nothing; raises for an evaluation error."""
    from jsonata import Jsonata
    from jsonata.utils import Utils

    bindings: dict[str, Any] = {name: Jsonata.JLambda(function) for name, function in AWS_FUNCTIONS.items()}
    bindings.update({name: Utils.NULL_VALUE if value is None else value for name, value in variables.items()})
    bindings["states"] = states
    evaluator = Jsonata(expression)
    evaluator.set_output_convert_nulls(False)  # None is JSONata's undefined; Utils.NULL_VALUE its null
    result = evaluator.evaluate(None, bindings)
    if result is None:
        return False, None
    try:
        return True, _plain(result)
    except (TypeError, ValueError) as error:
        raise _UnsupportedResult(str(error)) from error


def _field(env: Any) -> str:
    """The field as Step Functions names it in a cause (`Output/total`, `Assign/x`, `Arguments/Payload`); for a field
    this patch does not follow (a Choice rule's Condition, a Map's Items), the interpreter's last field name."""
    path = getattr(env, _FIELDS, None)
    return "/".join(path) if path else (env.next_field_name or "")


def _query_evaluation_error(env: Any, cause: str, location: str) -> Exception:
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    details = EvaluationFailedEventDetails(error=error_name.error_name, cause=cause, location=location)
    failure = FailureEventException(
        failure_event=FailureEvent(
            env=env, error_name=error_name, event_type=HistoryEventType.EvaluationFailed,
            event_details=EventDetails(evaluationFailedEventDetails=details),  # type: ignore[typeddict-item]  # moto: total TypedDict
        )
    )  # fmt: skip
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.EvaluationFailed,
        event_details=EventDetails(evaluationFailedEventDetails=failure.get_evaluation_failed_event_details()),  # type: ignore[typeddict-item]  # moto: total TypedDict
    )  # fmt: skip
    return failure


def _states_error(env: Any, typ_name: str, cause: str) -> Exception:
    """A failure named `States.<typ_name>` (States.Runtime, States.DataLimitExceeded) with `cause`."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    typ = getattr(StatesErrorNameType, typ_name)
    details = TaskFailedEventDetails(error=typ.to_name(), cause=cause)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env, error_name=StatesErrorName(typ=typ), event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=details),  # type: ignore[typeddict-item]  # moto: total TypedDict
        )
    )  # fmt: skip


def read_variable(env: Any, expression: str) -> Any:
    """`$name`, `$name.field`, `$name[0]`: a JSONPath rooted at a variable in scope."""
    from moto.stepfunctions.parser.asl.utils import json_path

    match = _VARIABLE_READ.fullmatch(expression.strip())
    if match is None:
        raise ValueError(f"not a variable reference: {expression!r}")
    variables = _in_scope(env)
    name = match["name"]
    if name not in variables:
        raise _MissingVariable(name)
    value = variables[name]
    if match["path"]:
        value = json_path.extract_json("$" + match["path"], value)  # the module's, as patched when called
    return copy.deepcopy(value)


def _json_string(token: Any) -> Any:
    """A string token of the definition (quotes included) as JSON reads it."""
    return json.loads(token.getText())


# --- The changes -----------------------------------------------------------------------------------------------


def _tracked(owner: Any, name_of: Callable[[Any], str]) -> Replace:
    """`owner._eval_body`, keeping the ASL field it evaluates on the environment's field path."""
    plain = owner._eval_body

    @wraps(plain)
    def _eval_body(self: Any, env: Any) -> None:
        path = env.__dict__.setdefault(_FIELDS, [])
        path.append(name_of(self))
        try:
            plain(self, env)
        finally:
            path.pop()

    return Replace(owner, "_eval_body", _eval_body)


def _variable_sample(self: Any, env: Any) -> None:
    """StringVariableSample: `$name...` in a JSONPath field."""
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError

    try:
        env.stack.append(read_variable(env, self.expression))
    except _MissingVariable as missing:
        raise _states_error(
            env,
            "StatesRuntime",
            f"The JSONPath '{self.expression}' specified for the field '{env.next_field_name}' could not be "
            f"found: no variable '{missing.name}' is in scope",
        ) from None
    except NoSuchJsonPathError as error:  # the path after the variable's name matches nothing in its value
        raise _states_error(
            env,
            "StatesRuntime",
            f"The JSONPath '{self.expression}' specified for the field '{env.next_field_name}' could not be "
            f"found in the variable '{json.dumps(error.data, separators=(',', ':'))}'",
        ) from None


def _jsonata(self: Any, env: Any) -> None:
    """StringJSONata: `{% ... %}`."""
    from jsonata.jexception import JException

    location = _field(env)
    expression = f"The JSONata expression '{self.expression}' specified for the field '{location}'"
    states = {key: copy.deepcopy(value) for key, value in env.states._states_data.items() if key in _STATES_KEYS}
    try:
        returned, value = evaluate_jsonata(self.expression, _in_scope(env), states)
    except JSONataFunctionError as error:
        raise _query_evaluation_error(
            env, f"{expression} threw an error during evaluation. {error}", location
        ) from None
    except _UnsupportedResult:
        raise _query_evaluation_error(env, f"{expression} returned an unsupported result type.", location) from None
    except JException as error:
        cause = f"{expression} threw an error during evaluation. {error.error}: {error}"
        raise _query_evaluation_error(env, cause, location) from None
    if not returned:
        raise _query_evaluation_error(env, f"{expression} returned nothing (undefined).", location)
    env.stack.append(value)


def _choice_comparison(self: Any, env: Any) -> None:
    """ComparisonVariable. moto's Variable turns a failed read into its NoSuchVariable marker (which IsPresent tests):
    for a variable, any other operator fails the state as Step Functions does, rather than compare false."""
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringVariableSample
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (
        ComparisonOperatorType,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable

    self.variable.eval(env)
    sampler = self.variable.string_sampler
    if (
        isinstance(env.stack[-1], NoSuchVariable)
        and isinstance(sampler, StringVariableSample)
        and self.comparison_function.operator_type != ComparisonOperatorType.IsPresent
    ):
        raise _states_error(
            env,
            "StatesRuntime",
            f"Invalid path '{sampler.expression}': The choice state's condition path references an invalid value.",
        )
    self.comparison_function.eval(env)


def _path_operand(self: Any, env: Any) -> None:
    """ComparisonFuncStringVariableSample, `"NumericLessThanEqualsPath": "$limit"`: the rule's Variable against the
    variable's value (moto compared them the other way round: the operand popped as the Variable's value)."""
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.factory import OperatorFactory

    value = env.stack.pop()
    self.string_variable_sample.eval(env=env)
    env.stack.append(value)  # below it, the operand: the input the operator reads its `$` path from
    OperatorFactory.get(self.operator_type).eval(env=env, value="$")
    result = env.stack.pop()
    env.stack.pop()
    env.stack.append(result)


def _choice_rule(self: Any, env: Any) -> None:
    """ChoiceRule: a matching rule's Assign and Output read the state input (below the rule's result on the stack)."""
    self.comparison.eval(env)
    if env.stack[-1] is not True:
        return
    matched = env.stack.pop()
    try:
        if self.assign:
            self.assign.eval(env=env)
        if self.output:
            self.output.eval(env=env)
    finally:
        env.stack.append(matched)


def _choice_state(self: Any, env: Any) -> None:
    """StateChoice: moto's, noting whether a rule matched (moto applied the state's own Assign, meant for Default,
    whenever the matching rule's Next was the Default state)."""
    env.__dict__[_CHOICE_DEFAULT] = True
    for rule in self.choices_decl.rules:
        rule.eval(env)
        if env.stack.pop() is True:
            if not rule.next_stmt:
                raise RuntimeError(f"Missing Next definition for state_choice rule '{rule}' in choices '{self}'.")
            env.__dict__[_CHOICE_DEFAULT] = False
            env.stack.append(rule.next_stmt.name)
            return
    if self.default_state is None:
        raise RuntimeError("No branching option reached in state %s", self.name)
    env.stack.append(self.default_state.state_name)


def _choice_state_output(self: Any, env: Any) -> None:
    next_state_name: str = env.stack.pop()
    if env.__dict__.pop(_CHOICE_DEFAULT, False):
        if self.assign_decl:
            self.assign_decl.eval(env=env)
        if self.output:
            self.output.eval(env=env)
    if self._is_language_query_jsonpath():
        if self.output_path:
            self.output_path.eval(env=env)
        else:
            env.states.reset(input_value=env.stack.pop())
    env.next_state_name = next_state_name


def _assign(self: Any, env: Any) -> None:
    """AssignDecl: every binding read against the variables as the state found them; assigned when it exits."""
    declarations: dict[str, Any] = {}
    path = env.__dict__.setdefault(_FIELDS, [])
    path.append("Assign")
    try:
        for binding in self.declaration_bindings:
            binding.eval(env=env)
            declarations.update(env.stack.pop())
    finally:
        path.pop()
    too_big = [name for name, value in declarations.items() if _size(value) > VARIABLE_SIZE_LIMIT]
    if too_big or _size(declarations) > VARIABLE_SIZE_LIMIT:
        what = (
            f"The variable '{too_big[0]}' assigned by the state exceeds"
            if too_big
            else "The variables assigned by the state exceed"
        )
        raise _states_error(
            env,
            "StatesStatesDataLimitExceeded",
            f"{what} the maximum number of bytes service limit ({VARIABLE_SIZE_LIMIT} bytes).",
        )
    env.variable_store.__dict__.setdefault(_PENDING, {}).update(declarations)


def _exit_details(plain: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    @wraps(plain)
    def exit_details(self: Any, env: Any) -> Any:
        """The state's assignments take effect as it exits (and are listed in its exit event, as moto did)."""
        store = env.variable_store
        for name, value in store.__dict__.pop(_PENDING, {}).items():
            store.set(variable_identifier=name, variable_value=value)
        return plain(self, env)

    return exit_details


def _rule_with_assign(plain: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    @wraps(plain)
    def rule_with_assign(self: Any, ctx: Any) -> Any:
        """moto's parser drops the Assign of a JSONPath rule (`"Variable": ..., "Assign": {...}`): keep it."""
        rule = plain(self, ctx)
        if rule.assign is None:
            for statement in ctx.children:
                assign_decl = getattr(statement, "assign_decl", lambda: None)()
                if assign_decl is not None:
                    vars(rule)["assign"] = self.visit(assign_decl)  # a Final attribute moto left None
        return rule

    return rule_with_assign


def _assign_string(self: Any, ctx: Any) -> Any:
    """An Assign's string as JSON reads it (moto kept its escapes: `\\"` stayed two characters)."""
    from moto.stepfunctions.parser.asl.component.common.assign.assign_template_value_terminal import (
        AssignTemplateValueTerminalLit,
    )

    return AssignTemplateValueTerminalLit(value=_json_string(ctx.string_literal()))


def _assign_jsonata_string(plain: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    from moto.stepfunctions.parser.asl.component.common.assign.assign_template_value_terminal import (
        AssignTemplateValueTerminalLit,
    )

    @wraps(plain)
    def assign_jsonata_string(self: Any, ctx: Any) -> Any:
        value = plain(self, ctx)
        if isinstance(value, AssignTemplateValueTerminalLit):  # `{% ... %}` in a JSONPath state: a plain string
            value = AssignTemplateValueTerminalLit(value=_json_string(ctx.string_jsonata()))
        return value

    return assign_jsonata_string


def _changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.component.common.assign.assign_decl import AssignDecl
    from moto.stepfunctions.parser.asl.component.common.assign.assign_template_binding import AssignTemplateBinding
    from moto.stepfunctions.parser.asl.component.common.jsonata.jsonata_template_binding import (
        JSONataTemplateBinding,
    )
    from moto.stepfunctions.parser.asl.component.common.outputdecl import Output
    from moto.stepfunctions.parser.asl.component.common.parargs import Arguments
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
        StringJSONata,
        StringVariableSample,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.choice_rule import ChoiceRule
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_func import (
        ComparisonFuncStringVariableSample,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_variable import (
        ComparisonVariable,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.state_choice import StateChoice
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor as Parser

    return [
        Replace(StringVariableSample, "_eval_body", _variable_sample),
        Replace(StringJSONata, "_eval_body", _jsonata),
        Replace(ComparisonVariable, "_eval_body", _choice_comparison),
        Replace(ComparisonFuncStringVariableSample, "_eval_body", _path_operand),
        Replace(ChoiceRule, "_eval_body", _choice_rule),
        Replace(StateChoice, "_eval_state", _choice_state),
        Replace(StateChoice, "_eval_state_output", _choice_state_output),
        Replace(AssignDecl, "_eval_body", _assign),
        Replace(
            CommonStateField,
            "_get_state_exited_event_details",
            _exit_details(CommonStateField._get_state_exited_event_details),
        ),
        Replace(
            Parser,
            "visitChoice_rule_comparison_variable",
            _rule_with_assign(Parser.visitChoice_rule_comparison_variable),
        ),
        Replace(Parser, "visitAssign_template_value_terminal_string_literal", _assign_string),
        Replace(
            Parser,
            "visitAssign_template_value_terminal_string_jsonata",
            _assign_jsonata_string(Parser.visitAssign_template_value_terminal_string_jsonata),
        ),
        _tracked(Output, lambda _: "Output"),
        _tracked(Arguments, lambda _: "Arguments"),
        _tracked(JSONataTemplateBinding, lambda binding: binding.identifier),
        _tracked(AssignTemplateBinding, lambda binding: binding.identifier),
    ]


_STATES_KEYS = ("input", "context", "result", "errorOutput")

VARIABLES = Patch(
    name="sfn-variables",
    kind=Kind.GAP,
    replaces="moto.stepfunctions.parser.asl.jsonata.jsonata.eval_jsonata_expression: an evaluator shipped unwired "
    "(`_eval_jsonata = None`), through which moto reads every `$variable` and evaluates every JSONata expression "
    "(a JSONPath read fails with a TypeError, a Choice on a variable takes Default, $hash and $uuid answer a "
    "placeholder); a Choice rule's Assign is dropped by the parser (an And/Or rule's reads the rule's boolean), "
    "the state's Default Assign also runs when a rule matching names the Default state, a `...Path` operand read "
    "from a variable is compared the wrong way round, and an Assign is visible to its own state's Output",
    because="Step Functions variables and JSONata states: a `$name` read is a JSONPath rooted at the variable "
    "(States.Runtime when none is in scope; a Choice on it fails rather than take Default), JSONata runs on a real "
    "evaluator (jsonata-python) with AWS's $partition, $range, $hash, $uuid, $parse, $random (a seeded $random fails "
    "loudly), an undefined result fails with States.QueryEvaluationError, and assignments take effect when the "
    "state exits, at most 256 KiB each",
    changes=_changes,
)
