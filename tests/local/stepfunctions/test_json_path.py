"""saga_local.stepfunctions.json_path: a definite JSONPath gives its value."""

import json
from typing import Any

from tests.support.emulator import Local


def test_definite_json_paths_give_the_value_not_a_list(local: Local) -> None:
    """`$[0].invoiceId` after a Parallel state (as the saga's Bill state selects its branches' results)."""

    def branch(result: dict[str, str]) -> dict[str, Any]:
        return {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": result, "End": True}}}

    machine = local.machine({
        "Bill": {"Type": "Parallel", "Branches": [branch({"invoiceId": "inv_1"}), branch({"entryId": "le_1"})],
            "ResultSelector": {"invoiceId.$": "$[0].invoiceId", "entryId.$": "$[1].entryId"},
            "ResultPath": "$.billing", "Next": "Select"},
        "Select": {"Type": "Pass", "Parameters": {
            "second.$": "$.items[1].sku",
            "first.$": "$.items[0]",
            "filtered.$": "$.items[?(@.sku == 'b')].sku",  # a filter keeps giving a list (getmoto/moto#7825)
            "all.$": "$.items[*].sku",
            "billing.$": "$.billing",
        }, "End": True},
    })  # fmt: skip
    result = local.run(machine, {"items": [{"sku": "a"}, {"sku": "b"}]})
    assert json.loads(result["output"]) == {
        "second": "b",
        "first": {"sku": "a"},
        "filtered": ["b"],
        "all": ["a", "b"],
        "billing": {"invoiceId": "inv_1", "entryId": "le_1"},
    }
