"""saga_local.stepfunctions.variables: Assign, `$name` reads and JSONata states, as Step Functions runs them."""

import hashlib
import json
import re
from typing import Any

import pytest

from saga_local.stepfunctions.variables import VARIABLE_SIZE_LIMIT, VARIABLES
from tests.support.emulator import Behaviour, Local, OutOfStock, lambda_task

QUOTED = 'it\'s "quoted" \\ and ünïcode'  # a value moto's own encoder would have spliced into JSONata text


def output(result: dict[str, Any]) -> Any:
    assert result["status"] == "SUCCEEDED", {k: result.get(k) for k in ("status", "error", "cause")}
    return json.loads(result["output"])


def failure(result: dict[str, Any]) -> tuple[str, str]:
    assert result["status"] == "FAILED", result
    return result["error"], result["cause"]


def pass_state(**fields: Any) -> dict[str, Any]:
    return {"Type": "Pass", **fields}


def jsonata(**fields: Any) -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", **fields}


# --- JSONPath reads -----------------------------------------------------------------------------------------------


def test_jsonpath_parameters_read_variables(local: Local) -> None:
    machine = local.machine({
        "Remember": pass_state(Result={"order": {"id": "ord_1", "lines": [{"sku": "a"}, {"sku": "b"}]}, "note": QUOTED},
            Assign={"order.$": "$.order", "note.$": "$.note", "limit": 3, "nothing": None, "literal": QUOTED},
            ResultPath=None, Next="Use"),
        "Use": pass_state(Parameters={
            "id.$": "$order.id",
            "second.$": "$order.lines[1].sku",
            "order.$": "$order",
            "note.$": "$note",
            "nothing.$": "$nothing",
            "literal.$": "$literal",
            "formatted.$": "States.Format('{} of {}', $order.id, $limit)",
            "input.$": "$.ignored",
        }, End=True),
    })  # fmt: skip
    assert output(local.run(machine, {"ignored": "state input still there"})) == {
        "id": "ord_1",
        "second": "b",
        "order": {"id": "ord_1", "lines": [{"sku": "a"}, {"sku": "b"}]},
        "note": QUOTED,
        "nothing": None,
        "literal": QUOTED,
        "formatted": "ord_1 of 3",
        "input": "state input still there",
    }


def test_a_variable_read_that_is_not_in_scope_fails_the_state(local: Local) -> None:
    machine = local.machine({"Use": pass_state(Parameters={"id.$": "$order.id"}, End=True)})
    error, cause = failure(local.run(machine))
    assert error == "States.Runtime"
    assert cause.startswith("An error occurred while executing the state 'Use' (entered at the event id #2). ")
    assert "'$order.id'" in cause
    assert "'id.$'" in cause


def test_a_path_that_matches_nothing_in_a_variable_fails_the_state(local: Local) -> None:
    machine = local.machine({
        "Remember": pass_state(Assign={"order": {"id": "ord_1"}}, Next="Use"),
        "Use": pass_state(Parameters={"total.$": "$order.total"}, End=True),
    })  # fmt: skip
    error, cause = failure(local.run(machine))
    assert error == "States.Runtime"
    assert cause.endswith(
        "The JSONPath '$order.total' specified for the field 'total.$' could not be found in the variable "
        '\'{"id":"ord_1"}\''
    )


def test_items_path_and_result_selector_read_variables(local: Local) -> None:
    machine = local.machine({
        "Remember": pass_state(Assign={"skus": ["a", "b"], "tag": "t"}, Next="Each"),
        "Each": {"Type": "Map", "ItemsPath": "$skus", "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Line",
                "States": {"Line": pass_state(Parameters={"sku.$": "$", "tag.$": "$tag"}, End=True)}},
            "ResultSelector": {"lines.$": "$", "tag.$": "$tag"}, "End": True},
    })  # fmt: skip
    assert output(local.run(machine)) == {"lines": [{"sku": "a", "tag": "t"}, {"sku": "b", "tag": "t"}], "tag": "t"}


# --- Assign, per state type -------------------------------------------------------------------------------------


def test_task_assign_reads_the_result_and_a_catcher_assign_reads_the_error_output(
    local: Local, behaviour: Behaviour
) -> None:
    def reserve(event: Any) -> Any:
        if event.get("fail"):
            raise OutOfStock("no more mugs")
        return {"reservationId": "res_1"}

    behaviour.functions["reserve"] = reserve
    arn = local.function("reserve")
    machine = local.machine({
        "Reserve": lambda_task(arn, "function ARN", Assign={"reservation.$": "$.reservationId"},
            Catch=[{"ErrorEquals": ["States.ALL"], "Assign": {"error.$": "$.Error", "cause.$": "$.Cause"},
                    "ResultPath": "$.failure", "Next": "Failed"}], Next="Reserved"),
        "Reserved": pass_state(Parameters={"reservation.$": "$reservation"}, End=True),
        "Failed": pass_state(Parameters={"error.$": "$error", "cause.$": "$cause", "input.$": "$.fail"}, End=True),
    })  # fmt: skip
    assert output(local.run(machine, {})) == {"reservation": "res_1"}
    failed = output(local.run(machine, {"fail": True}))
    assert failed["error"] == "OutOfStock"
    assert json.loads(failed["cause"])["errorMessage"] == "no more mugs"
    assert failed["input"] is True


def test_a_choice_rule_assign_applies_when_the_rule_matches(local: Local) -> None:
    machine = local.machine({
        "Check": {"Type": "Choice", "Choices": [
                {"Variable": "$.total", "NumericGreaterThan": 100, "Assign": {"tier": "gold", "total.$": "$.total"},
                 "Next": "Done"},
                {"Variable": "$.total", "NumericGreaterThan": 10, "Assign": {"tier": "silver"}, "Next": "Done"}],
            "Default": "Done", "Assign": {"tier": "none", "total": 0}},
        "Done": pass_state(Parameters={"tier.$": "$tier", "total.$": "$total"}, End=True),
    })  # fmt: skip
    assert output(local.run(machine, {"total": 500})) == {"tier": "gold", "total": 500}
    assert output(local.run(machine, {"total": 5})) == {"tier": "none", "total": 0}
    error, _ = failure(local.run(machine, {"total": 50}))  # silver assigns no total: reading it fails
    assert error == "States.Runtime"


def test_choice_rules_compare_variables(local: Local) -> None:
    machine = local.machine({
        "Remember": pass_state(Assign={"limit": 10, "status": "OPEN"}, Next="Check"),
        "Check": {"Type": "Choice", "Choices": [
                {"And": [{"Variable": "$status", "StringEquals": "OPEN"},
                         {"Variable": "$.amount", "NumericLessThanEqualsPath": "$limit"}], "Next": "Within"}],
            "Default": "Above"},
        "Within": pass_state(Result="within", End=True),
        "Above": pass_state(Result="above", End=True),
    })  # fmt: skip
    assert output(local.run(machine, {"amount": 10})) == "within"
    assert output(local.run(machine, {"amount": 11})) == "above"


def test_a_choice_on_a_missing_variable_fails_as_on_aws(local: Local) -> None:
    """Step Functions fails the execution (it does not take Default); only IsPresent may test a missing value."""
    machine = local.machine({
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$status", "StringEquals": "OPEN", "Next": "Open"}],
            "Default": "Other"},
        "Open": {"Type": "Succeed"},
        "Other": {"Type": "Succeed"},
    })  # fmt: skip
    error, cause = failure(local.run(machine))
    assert error == "States.Runtime"
    assert cause == (
        "An error occurred while executing the state 'Check' (entered at the event id #2). "
        "Invalid path '$status': The choice state's condition path references an invalid value."
    )
    present = local.machine({
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$status", "IsPresent": True, "Next": "Open"}],
            "Default": "Other"},
        "Open": pass_state(Result="present", End=True),
        "Other": pass_state(Result="absent", End=True),
    })  # fmt: skip
    assert output(local.run(present)) == "absent"


def test_assignments_take_effect_when_the_state_exits(local: Local) -> None:
    """Every expression of a state reads the variables as the state found them (so two variables can swap)."""
    machine = local.machine({
        "Start": pass_state(Assign={"a": 1, "b": 2}, Next="Swap"),
        "Swap": pass_state(Assign={"a.$": "$b", "b.$": "$a"}, Parameters={"a.$": "$a", "b.$": "$b"},
            ResultPath="$.during", Next="After"),
        "After": pass_state(Parameters={"during.$": "$.during", "a.$": "$a", "b.$": "$b"}, End=True),
    })  # fmt: skip
    assert output(local.run(machine)) == {"during": {"a": 1, "b": 2}, "a": 2, "b": 1}


def test_parallel_branches_read_outer_variables_and_keep_their_own(local: Local) -> None:
    def branch(name: str) -> dict[str, Any]:
        return {"StartAt": "B", "States": {
            "B": pass_state(Assign={"inner": name}, Next="Read"),
            "Read": pass_state(Parameters={"outer.$": "$outer", "inner.$": "$inner"}, End=True)}}  # fmt: skip

    machine = local.machine({
        "Start": pass_state(Assign={"outer": "o"}, Next="Both"),
        "Both": {"Type": "Parallel", "Branches": [branch("left"), branch("right")], "Next": "After"},
        "After": pass_state(Parameters={"inner.$": "$inner"}, End=True),
    })  # fmt: skip
    error, cause = failure(local.run(machine))  # what a branch assigns is not visible after the Parallel
    assert error == "States.Runtime"
    assert "'After'" in cause
    assert "'$inner'" in cause
    no_after = local.machine({
        "Start": pass_state(Assign={"outer": "o"}, Next="Both"),
        "Both": {"Type": "Parallel", "Branches": [branch("left"), branch("right")], "End": True},
    })  # fmt: skip
    assert output(local.run(no_after)) == [{"outer": "o", "inner": "left"}, {"outer": "o", "inner": "right"}]


def test_a_variable_over_256_kib_fails_the_state(local: Local) -> None:
    machine = local.machine({"Big": pass_state(Assign={"big.$": "$.text"}, End=True)})
    assert local.run(machine, {"text": "x" * 1000})["status"] == "SUCCEEDED"
    error, cause = failure(local.run(machine, {"text": "x" * VARIABLE_SIZE_LIMIT}))
    assert error == "States.DataLimitExceeded"
    assert "'big'" in cause


# --- JSONata states -----------------------------------------------------------------------------------------------


def test_jsonata_states_read_states_and_variables(local: Local, behaviour: Behaviour) -> None:
    behaviour.functions["price"] = lambda event: {"total": event["qty"] * 250, "echo": event}
    arn = local.function("price")
    machine = local.machine({
        "Start": pass_state(**jsonata(Assign={"customer": "{% $states.input.customer %}", "note": QUOTED}),
            Next="Price"),
        "Price": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "QueryLanguage": "JSONata",
            "Arguments": {"FunctionName": arn, "Payload": {"qty": "{% $count($states.input.items) %}"}},
            "Assign": {"total": "{% $states.result.Payload.total %}"},
            "Output": {"customer": "{% $customer %}", "sent": "{% $states.result.Payload.echo %}"}, "Next": "Done"},
        "Done": pass_state(**jsonata(Output={
            "customer": "{% $customer %}", "total": "{% $total %}", "note": "{% $note %}",
            "skus": "{% $states.input.sent.qty %}", "upper": "{% $uppercase($customer) %}",
            "expensive": "{% $total > 400 ? 'yes' : 'no' %}"}), End=True),
    })  # fmt: skip
    assert output(local.run(machine, {"customer": "ada", "items": ["a", "b"]})) == {
        "customer": "ada",
        "total": 500,
        "note": QUOTED,
        "skus": 2,
        "upper": "ADA",
        "expensive": "yes",
    }


def test_a_jsonata_map_iterates_a_variable(local: Local) -> None:
    machine = local.machine({
        "Start": pass_state(Assign={"skus": ["a", "b"], "tag": "t"}, Next="Each"),
        "Each": {"Type": "Map", "QueryLanguage": "JSONata", "Items": "{% $skus %}",
            "ItemSelector": {"sku": "{% $states.context.Map.Item.Value %}", "tag": "{% $tag %}"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Line", "States": {
                "Line": pass_state(**jsonata(Output="{% $states.input.sku & '-' & $tag %}"), End=True)}},
            "Assign": {"count": "{% $count($states.result) %}"}, "Output": {"lines": "{% $states.result %}"},
            "Next": "Done"},
        "Done": pass_state(Parameters={"count.$": "$count", "lines.$": "$.lines"}, End=True),
    })  # fmt: skip
    assert output(local.run(machine)) == {"count": 2, "lines": ["a-t", "b-t"]}


def test_a_jsonata_choice_condition_reads_variables(local: Local) -> None:
    machine = local.machine({
        "Start": pass_state(Assign={"limit": 10}, Next="Check"),
        "Check": {"Type": "Choice", "QueryLanguage": "JSONata", "Choices": [
                {"Condition": "{% $states.input.amount <= $limit %}", "Assign": {"verdict": "within"},
                 "Next": "Done"}],
            "Default": "Done", "Assign": {"verdict": "above"}},
        "Done": pass_state(Parameters={"verdict.$": "$verdict"}, End=True),
    })  # fmt: skip
    assert output(local.run(machine, {"amount": 3})) == {"verdict": "within"}
    assert output(local.run(machine, {"amount": 30})) == {"verdict": "above"}


@pytest.mark.parametrize(
    ("field", "state"),
    [
        ("Output/result", pass_state(**jsonata(Output={"result": "{% $doesNotExist %}"}), End=True)),
        ("Output", pass_state(**jsonata(Output="{% $doesNotExist %}"), End=True)),
        ("Assign/result", pass_state(**jsonata(Assign={"result": "{% $doesNotExist %}"}), End=True)),
    ],
)
def test_a_jsonata_expression_that_returns_nothing_fails_as_on_aws(
    local: Local, field: str, state: dict[str, Any]
) -> None:
    error, cause = failure(local.run(local.machine({"State0": state})))
    assert error == "States.QueryEvaluationError"
    assert cause == (
        "An error occurred while executing the state 'State0' (entered at the event id #2). "
        f"The JSONata expression '$doesNotExist' specified for the field '{field}' returned nothing (undefined)."
    )


def test_step_functions_jsonata_functions(local: Local) -> None:
    machine = local.machine({"Fns": pass_state(**jsonata(Output={
        "partition": "{% $partition([1, 2, 3, 4, 5], 2) %}",
        "range": "{% $range(0, 10, 5) %}",
        "down": "{% $range(3, 1, -1) %}",
        "sha256": "{% $hash('Hash this string', 'SHA-256') %}",
        "md5": "{% $hash($states.input.text, 'MD5') %}",
        "uuid": "{% $uuid() %}",
        "parsed": "{% $parse('{\"a\": [1, null]}') %}",
        "random": "{% $random() %}",
    }), End=True)})  # fmt: skip
    result = output(local.run(machine, {"text": QUOTED}))
    assert result["partition"] == [[1, 2], [3, 4], [5]]
    assert result["range"] == [0, 5, 10]
    assert result["down"] == [3, 2, 1]
    assert result["sha256"] == "1cac63f39fd68d8c531f27b807610fb3d50f0fc3f186995767fb6316e7200a3e"  # AWS's answer
    assert result["md5"] == hashlib.md5(QUOTED.encode()).hexdigest()  # what $hash answers
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", result["uuid"])
    assert result["parsed"] == {"a": [1, None]}
    assert 0 <= result["random"] < 1


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("$random(42)", "$random with a seed"),
        ("$eval('1 + 1')", "$eval"),
        ("$hash('x', 'SHA-3')", "$hash"),
        ("$parse('not json')", "$parse"),
    ],
)
def test_what_the_local_stack_does_not_reproduce_fails_loudly(local: Local, expression: str, named: str) -> None:
    machine = local.machine({"Fns": pass_state(**jsonata(Output={"v": "{% " + expression + " %}"}), End=True)})
    error, cause = failure(local.run(machine))
    assert error == "States.QueryEvaluationError"
    assert named in cause
    assert "'Output/v'" in cause


def test_a_jsonata_evaluation_error_can_be_caught(local: Local) -> None:
    machine = local.machine({
        "Add": {"Type": "Parallel", "QueryLanguage": "JSONata", "Branches": [{"StartAt": "B", "States": {
                "B": pass_state(**jsonata(Output="{% 1 + 'a' %}"), End=True)}}],
            "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Output": "{% $states.errorOutput.Error %}",
                       "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Succeed"},
    })  # fmt: skip
    assert output(local.run(machine)) == "States.QueryEvaluationError"


def test_undo_gives_moto_its_unwired_evaluator_back(local: Local) -> None:
    machine = local.machine({
        "Remember": pass_state(Assign={"id": "ord_1"}, Next="Use"),
        "Use": pass_state(Parameters={"id.$": "$id"}, End=True),
    })  # fmt: skip
    VARIABLES.undo()
    try:
        assert local.run(machine)["status"] == "FAILED"  # moto 5.2.5: a TypeError from its unwired evaluator
    finally:
        VARIABLES.apply()
    assert output(local.run(machine)) == {"id": "ord_1"}
