"""saga_local.cli.console: what the terminal of `saga-local up` gets (a line per request, notable events) and what
only the log file gets (every other logger, stderr)."""

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from saga_local.cli import console
from saga_local.scheduler import _did_something


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[tuple[io.StringIO, Path]]:
    """The terminal and the log file; the test routes the output itself (pytest swaps sys.stderr between phases)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, sys.stderr)
    try:
        yield io.StringIO(), tmp_path / "logs" / "stack.log"
    finally:
        for name in (console.ACCESS_LOGGER, console.EVENTS_LOGGER):
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                if isinstance(handler, console._RequestLines):
                    logger.removeHandler(handler)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        sys.stderr = saved[2]
        logging.captureWarnings(False)


def test_a_request_is_one_line_with_its_order_and_caller() -> None:
    record = {"epoch": 0, "method": "POST", "path": "/dev/orders", "status": 201, "latencyMs": 84,
              "orderId": "ord_3f", "caller": "arn:aws:iam::123456789012:user/storefront"}  # fmt: skip
    assert console.request_line(record).split(" ", 1)[1] == "POST /dev/orders 201 84ms ord_3f storefront"


def test_an_order_already_in_the_path_is_not_repeated_and_a_role_session_is_named_by_its_role() -> None:
    caller = "arn:aws:sts::123456789012:assumed-role/fulfilment/fulfilment-local"
    record = {"epoch": 0, "method": "GET", "path": "/dev/orders/ord_3f", "status": 200, "latencyMs": 9,
              "orderId": "ord_3f", "caller": caller}  # fmt: skip
    assert console.request_line(record).split(" ", 1)[1] == "GET /dev/orders/ord_3f 200 9ms fulfilment"


def test_requests_and_events_reach_the_terminal_and_everything_else_only_the_log_file(
    routed: tuple[io.StringIO, Path],
) -> None:
    terminal, log_file = routed
    console.route_output(log_file, terminal)
    logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").error(
        "Exception=FailureEventException, Error=NoSuchJsonPathError"
    )
    logging.getLogger(console.ACCESS_LOGGER).info(
        json.dumps({"method": "POST", "path": "/dev/orders", "status": 402, "latencyMs": 60, "orderId": "ord_1"})
    )
    logging.getLogger(console.EVENTS_LOGGER).warning("stream OutboxRelay: 2 record(s) dead-lettered to dlq")
    print("Traceback (most recent call last): a thread's", file=sys.stderr)

    lines = terminal.getvalue().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "POST /dev/orders 402 60ms ord_1",
        "stream OutboxRelay: 2 record(s) dead-lettered to dlq",
    ]
    logged = log_file.read_text()
    assert "NoSuchJsonPathError" in logged
    assert "Traceback" in logged
    assert "dead-lettered" in logged


def test_a_schedule_run_is_news_when_it_started_flagged_or_failed_something() -> None:
    assert _did_something({"started": [], "flagged": [], "skipped": ["ord_a"], "failed": []}) == ""
    assert _did_something({"started": ["ord_a", "ord_b"], "flagged": ["ord_c"]}) == (
        "started 2 (ord_a, ord_b), flagged 1 (ord_c)"
    )
    assert _did_something(None) == ""
