"""Measure (not a test) what one confirmed order uses, from a real local run: Lambda invocations and
their billed time, and every DynamoDB, SNS and SQS call the steps made, read from the order's trace.

    .venv/bin/python -m benchmarks.order_units

Starts a local stack on free ports, places two warm-up orders, then one measured order, and prints the
calls per service/operation/resource. Prices are not applied here (see README "What an order costs").
"""

import collections
import json
import re
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from saga_local.launch import launched_stack
from saga_local.signing import Caller, signed_request
from saga_local.xray.daemon import TraceStore

ROOT = Path(__file__).resolve().parent.parent


def _order(outputs: dict) -> dict:
    body = {"customerId": "units", "items": [{"sku": "SKU-3", "quantity": 1}], "payment": {"token": "tok_visa"}}
    headers = {
        "x-api-key": outputs["ApiKey"],
        "Idempotency-Key": f"u-{uuid.uuid4()}",
        "Content-Type": "application/json",
    }
    url, caller = f"{outputs['LocalApiUrl']}/orders", Caller.from_outputs(outputs)
    request = signed_request("POST", url, json.dumps(body).encode(), headers, caller)
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  # nosec B310  # loopback
        return json.loads(response.read())


def main() -> int:
    with launched_stack() as stack:
        outputs, state_dir = stack.outputs, stack.state_dir
        for _ in range(2):
            _order(outputs)
        order = _order(outputs)
        time.sleep(3)  # segments travel by UDP; the relay batches for up to a second
        store = TraceStore.load(state_dir / "traces")
        calls: collections.Counter[str] = collections.Counter()
        invocations: collections.Counter[str] = collections.Counter()
        for trace_id in store.traces_for_annotation("orderId", order["orderId"]):
            for row in store.timeline(trace_id):
                if row.kind == "AWS::Lambda::Function":
                    invocations[row.name] += 1
                elif row.operation:
                    calls[f"{row.name} {row.operation} {row.resource or ''}".strip()] += 1
        billed = collections.defaultdict(list)
        for log_file in (state_dir / "logs").glob("*.log"):
            for match in re.finditer(r"Billed Duration: (\d+) ms", log_file.read_text()):
                billed[log_file.stem].append(int(match.group(1)))
        print(f"order {order['orderId']} ({order['status']})")
        print("Lambda invocations (traced):")
        for name, count in sorted(invocations.items()):
            print(f"  {count} x {name}")
        print("AWS calls made by the steps:")
        for call, count in sorted(calls.items()):
            print(f"  {count} x {call}")
        print("Billed duration per invocation, median over the run (ms):")
        for name, values in sorted(billed.items()):
            print(f"  {name}: {sorted(values)[len(values) // 2]} ({len(values)} invocations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
