"""A bounded schemathesis run through the local API (the full run is `make fuzz`, reliability/fuzz.py): every
phase and every check, problem_details included, with a few examples per operation so it stays under a minute."""

import json

from reliability.fuzz import fuzz
from tests.support.stack import LocalStackHandle

MAX_EXAMPLES = 3
SEED = 20261126  # the same cases every run; `make fuzz` draws new ones


def test_the_api_passes_every_schemathesis_check(local_stack: LocalStackHandle) -> None:
    summary = fuzz(
        local_stack.api_url, local_stack.api_key, max_examples=MAX_EXAMPLES, seed=SEED, caller=local_stack.caller()
    )
    assert summary["failures"] == [], json.dumps(summary["failures"], indent=1)
    assert summary["errors"] == {}
    assert summary["server_errors"] == 0
    assert summary["stop_reason"] == "completed"
    # It really ran: both operations, undeclared methods, rejections and confirmed orders.
    assert summary["cases_generated"] >= 100, summary
    operations = summary["statuses_per_operation"]
    assert {"POST /orders", "GET /orders/{orderId}", "DELETE /orders"} <= set(operations)
    assert {"201", "400", "403", "405"} <= set(summary["statuses"]), summary["statuses"]
