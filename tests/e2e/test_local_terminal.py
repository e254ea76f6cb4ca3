"""What `saga-local up` (make local) shows a person: a banner, then exactly one line per API request, and none of
the interpreter's dumps or tracebacks (they go to .local/logs/stack.log). Orders of every outcome are placed with
`saga-local call`, and the other commands a person runs against the stack are checked for one-line errors."""

import json
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from saga_local.launch import Launched, launched_stack

ROOT = Path(__file__).resolve().parents[2]
REQUEST_LINE = re.compile(r"^\d\d:\d\d:\d\d (GET|POST|PUT|DELETE) /\S+ (\d{3}) \d+ms( ord_[0-9a-f]+)?( [\w-]+)?$")


def order(sku: str, token: str, quantity: int = 1) -> str:
    return json.dumps({"customerId": "c-1", "items": [{"sku": sku, "quantity": quantity}], "payment": {"token": token}})


# (what, extra arguments of `saga-local call`, the status expected)
REQUESTS = [
    ("confirmed", ["POST", "/orders", "--data", order("SKU-1", "tok_visa")], 201),
    ("declined", ["POST", "/orders", "--data", order("SKU-1", "tok_chargeDeclined"), "--caller", "1"], 402),
    ("unavailable", ["POST", "/orders", "--data", order("SKU-1", "tok_unavailable"), "--caller", "2"], 503),
    ("out of stock", ["POST", "/orders", "--data", order("SKU-7", "tok_visa", 3)], 409),
    ("invalid", ["POST", "/orders", "--data", '{"customerId": 5}'], 400),
    ("unknown order", ["GET", "/orders/ord_" + "0" * 64], 404),
]


@dataclass
class Session:
    """A person's session with the stack: what each command answered, then what the terminal of `up` showed."""

    calls: list[tuple[str, int, subprocess.CompletedProcess[str]]] = field(default_factory=list)
    commands: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    terminal: str = ""
    log_file: str = ""


def saga_local(stack: Launched, *args: str, shell: str | None = None) -> subprocess.CompletedProcess[str]:
    command: Any = shell or [sys.executable, "-m", "saga_local", *args]
    return subprocess.run(
        command, env=stack.environment, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        shell=shell is not None, executable="/bin/bash" if shell else None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def session() -> Session:
    """Start a stack as `make local` does, place an order of every outcome with `saga-local call`, run the other
    commands, stop it (Ctrl-C), and keep what its terminal showed."""
    record = Session()
    with launched_stack({"SAGA_LOCAL_RETRY_SCALE": "0.01"}, keep=True) as stack:
        for what, arguments, status in REQUESTS:
            headers = ["--header", f"Idempotency-Key: {uuid.uuid4()}"] if arguments[0] == "POST" else []
            record.calls.append((what, status, saga_local(stack, "call", *arguments, *headers)))
        python = shlex.quote(sys.executable)
        record.commands = {
            "orders | head -1": saga_local(stack, shell=f"set -o pipefail; {python} -m saga_local orders | head -1"),
            "orders": saga_local(stack, "orders"),
            "invoke": saga_local(stack, "invoke", "InventoryFunction", "-e", "events/inventory-reserve.json"),
            "status": saga_local(stack, "status"),
            "call with a bad header": saga_local(stack, "call", "POST", "/orders", "--header", "no-colon"),
            "call as a caller that does not exist": saga_local(stack, "call", "GET", "/orders/x", "--caller", "9"),
            "invoke an unknown function": saga_local(stack, "invoke", "NoSuchFunction"),
        }
    record.terminal = stack.terminal.read_text()
    log_file = stack.state_dir / "logs" / "stack.log"
    record.log_file = log_file.read_text() if log_file.exists() else ""
    shutil.rmtree(stack.terminal.parent, ignore_errors=True)
    return record


def test_saga_local_call_prints_like_curl_i_and_exits_by_status(session: Session) -> None:
    for what, status, answer in session.calls:
        first, *_ = answer.stdout.splitlines() or [""]
        assert first.startswith(f"HTTP {status} "), (what, answer.stdout[:500], answer.stderr[-2000:])
        assert answer.returncode == (0 if status < 400 else 1), what
        head, _, body = answer.stdout.partition("\n\n")
        assert re.search(r"^Content-Type: application/\S*json", head, re.MULTILINE | re.IGNORECASE), what
        assert body.startswith("{\n  "), what  # the JSON body, indented
        assert json.loads(body), what
        assert answer.stderr == "", what


def test_the_terminal_has_the_banner_then_exactly_one_line_per_request(session: Session) -> None:
    lines = session.terminal.splitlines()
    banner = next(i for i, line in enumerate(lines) if line.startswith("Local stack ready"))
    assert any("log file" in line and "stack.log" in line for line in lines[banner:])
    requests = [line for line in lines if REQUEST_LINE.match(line)]
    assert len(requests) == len(REQUESTS), "\n".join(lines)
    for line, (what, status, _) in zip(requests, session.calls, strict=True):
        assert f" {status} " in line, (what, line)
    placed = [line for line in requests if " POST " in line and " 400 " not in line]
    assert all(re.search(r" ord_[0-9a-f]+ ", line) for line in placed), placed  # the order each request made
    assert all(line.split()[-1] in ("storefront", "back-office", "fulfilment") for line in requests)


def test_the_terminal_has_no_dumps_or_tracebacks_they_are_in_the_log_file(session: Session) -> None:
    for noise in ("Traceback", "Exception=", "NoSuchJsonPathError", "FailureEventException"):
        assert noise not in session.terminal, noise
    assert "moto.stepfunctions" in session.log_file  # the interpreter's own logging, kept for whoever needs it


def test_orders_lists_orders_counts_key_records_and_stops_quietly_under_head(session: Session) -> None:
    listing = session.commands["orders"]
    assert listing.returncode == 0, listing.stderr
    header, *rows, summary = listing.stdout.splitlines()
    assert header.startswith("ORDER ")
    order_ids = [row.split()[0] for row in rows]
    assert all(len(order_id) == 68 for order_id in order_ids)  # whole ids, the column sized to them
    assert re.fullmatch(r"\d+ orders \(and \d+ key records\)", summary), summary
    piped = session.commands["orders | head -1"]
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == header + "\n"
    assert piped.stderr == ""


def test_invoke_prints_the_result_then_the_log_tail_as_sam_local_invoke(session: Session) -> None:
    invoked = session.commands["invoke"]
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)
    assert "START RequestId:" in invoked.stderr
    assert "REPORT RequestId:" in invoked.stderr


def test_status_names_the_endpoints_the_outputs_and_the_log_file(session: Session) -> None:
    status = session.commands["status"]
    assert status.returncode == 0
    assert "API" in status.stdout
    assert "outputs.json" in status.stdout
    assert "stack.log" in status.stdout


@pytest.mark.parametrize(
    "command", ["call with a bad header", "call as a caller that does not exist", "invoke an unknown function"]
)
def test_a_mistake_is_one_line_and_exit_status_2(session: Session, command: str) -> None:
    answer = session.commands[command]
    assert answer.returncode == 2
    assert answer.stdout == ""
    assert answer.stderr.startswith("error: ")
    assert answer.stderr.count("\n") == 1, answer.stderr
