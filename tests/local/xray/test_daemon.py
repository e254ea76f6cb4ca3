"""The local X-Ray daemon (saga_local.xray.daemon): it takes what the X-Ray SDK and saga_local.xray send,
keeps it, finds an order's trace by annotation and shows it as a waterfall."""

import json
import socket
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core.recorder import AWSXRayRecorder

from saga_local.awslambda import invoke_hook
from saga_local.xray.daemon import TimelineRow, TraceStore, XRayDaemon, parse_datagram, render_timeline
from saga_local.xray.propagation import PROPAGATE_TRACES
from saga_local.xray.segments import format_trace_header, new_trace_id, parse_trace_header, segment, send_segment
from tests.support.wait import wait_for

REGION = "us-east-1"
FUNCTION_SEGMENT_ID = "f00dfeedf00dfeed"


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[XRayDaemon]:
    """A daemon on a free port (never 2000: a dev stack may be running), where every sender here sends."""
    daemon = XRayDaemon(port=0, store_path=tmp_path / "traces").start()
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{daemon.port}")
    yield daemon
    daemon.stop()


@pytest.fixture(autouse=True)
def _xray_sdk_enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Powertools' Tracer, disabled in tests, disables the X-Ray SDK process-wide: these tests need it on."""
    monkeypatch.delenv(global_sdk_config.XRAY_ENABLED_KEY, raising=False)
    enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)
    yield
    global_sdk_config.set_sdk_enabled(enabled)


def _received(daemon: XRayDaemon, count: int) -> None:
    assert daemon.wait_for(count), f"{daemon.received} documents received, {count} expected"


def test_daemon_keeps_a_segment_the_sdk_sends_with_its_nested_subsegments(daemon: XRayDaemon) -> None:
    trace_id = new_trace_id()
    recorder = AWSXRayRecorder()
    recorder.configure(sampling=False, plugins=(), context_missing="LOG_ERROR")
    recorder.begin_segment("orders-api/prod", traceid=trace_id)
    with recorder.in_subsegment("## handler") as handler:
        handler.put_annotation("orderId", "ord_1")
        with recorder.in_subsegment("dynamodb", namespace="aws") as call:  # as the SDK's botocore patch names it
            call.set_aws({"operation": "PutItem", "table_name": "orders-local-OrdersTable", "region": REGION})
            call.put_http_meta("status", 200)
    recorder.end_segment()

    _received(daemon, 1)
    assert daemon.store.traces_for_annotation("orderId", "ord_1") == [trace_id]  # found in a nested subsegment
    assert daemon.store.traces_for_annotation("orderId", "ord_2") == []
    rows = daemon.store.timeline(trace_id)
    assert [(row.depth, row.name) for row in rows] == [(0, "orders-api/prod"), (1, "## handler"), (2, "DynamoDB")]
    call_row = rows[2]
    assert (call_row.kind, call_row.operation, call_row.resource, call_row.http_status) == (
        "aws", "PutItem", "orders-local-OrdersTable", 200,
    )  # fmt: skip
    assert 0 <= rows[0].start_ms <= rows[1].start_ms <= call_row.start_ms
    assert call_row.duration_ms is not None
    assert rows[0].duration_ms is not None
    assert call_row.duration_ms <= rows[0].duration_ms


def _send_saga_segments(trace_id: str, start: float) -> dict[str, str]:
    """What the API emulator, the state machine and the Lambda runtime send for one order: the API's
    segment, the execution's, a failed Task's subsegment sent on its own, and the function's segment."""
    api = segment(name="orders-api/prod", trace_id=trace_id, start=start, end=start + 0.300,
                  origin="AWS::ApiGateway::Stage", http={"response": {"status": 502}}, fault=True)  # fmt: skip
    machine = segment(name="OrderSaga", trace_id=trace_id, start=start + 0.005, end=start + 0.290,
                      parent_id=api["id"], origin="AWS::StepFunctions::StateMachine", error=True)  # fmt: skip
    task = segment(name="ReserveInventory", trace_id=trace_id, start=start + 0.010, end=start + 0.200,
                   parent_id=machine["id"], type="subsegment", error=True,
                   cause={"exceptions": [{"type": "OutOfStock", "message": "sku-1: 0 available"}]})  # fmt: skip
    function = segment(name="order-saga-local-InventoryFunction", trace_id=trace_id, id=FUNCTION_SEGMENT_ID,
                       start=start + 0.020, end=start + 0.190, parent_id=task["id"],
                       origin="AWS::Lambda::Function")  # fmt: skip
    for document in (task, machine, function, api):  # in the order they end, as the services send them
        send_segment(document)
    return {"api": api["id"], "machine": machine["id"], "task": task["id"]}


def test_timeline_joins_segments_and_subsegments_sent_on_their_own(
    daemon: XRayDaemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A function's code runs the SDK in Lambda mode: its subsegments are each sent alone, with the
    function segment (sent by the runtime) as parent_id. The tree joins what every sender sent."""
    trace_id = new_trace_id()
    ids = _send_saga_segments(trace_id, start=time.time())
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.setenv("_X_AMZN_TRACE_ID", format_trace_header(trace_id, FUNCTION_SEGMENT_ID))
    recorder = AWSXRayRecorder()  # in Lambda mode: subsegments of the facade segment, streamed as they end
    handler = recorder.begin_subsegment("## lambda_handler")
    handler.put_annotation("orderId", "ord_42")
    reserve = recorder.begin_subsegment("DynamoDB", "aws")
    reserve.set_aws({"operation": "TransactWriteItems"})
    reserve.put_http_meta("status", 400)
    reserve.add_error_flag()
    recorder.end_subsegment()
    publish = recorder.begin_subsegment("SNS", "aws")
    publish.set_aws({"operation": "Publish", "topic_arn": "arn:aws:sns:us-east-1:123456789012:order-events.fifo"})
    publish.put_http_meta("status", 200)
    recorder.end_subsegment()
    try:
        raise LookupError("sku-1: 0 available")
    except LookupError as exc:
        handler.add_exception(exc, traceback.extract_stack())
    recorder.end_subsegment()

    _received(daemon, 7)
    assert daemon.store.traces_for_annotation("orderId", "ord_42") == [trace_id]
    rows = daemon.store.timeline(trace_id)
    assert [(row.depth, row.name) for row in rows] == [
        (0, "orders-api/prod"),
        (1, "OrderSaga"),
        (2, "ReserveInventory"),
        (3, "order-saga-local-InventoryFunction"),
        (4, "## lambda_handler"),
        (5, "DynamoDB"),
        (5, "SNS"),
    ]
    by_name = {row.name: row for row in rows}
    assert by_name["orders-api/prod"].id == ids["api"]
    assert (by_name["orders-api/prod"].fault, by_name["orders-api/prod"].http_status) == (True, 502)
    assert by_name["OrderSaga"].kind == "AWS::StepFunctions::StateMachine"
    assert by_name["OrderSaga"].error
    assert by_name["ReserveInventory"].cause == "OutOfStock: sku-1: 0 available"
    reserve_ms = by_name["ReserveInventory"].duration_ms
    assert reserve_ms is not None
    assert 185 <= reserve_ms <= 195
    assert by_name["## lambda_handler"].fault
    assert by_name["## lambda_handler"].cause == "LookupError: sku-1: 0 available"
    assert (by_name["DynamoDB"].operation, by_name["DynamoDB"].http_status, by_name["DynamoDB"].error) == (
        "TransactWriteItems", 400, True,
    )  # fmt: skip
    assert (by_name["SNS"].operation, by_name["SNS"].resource) == ("Publish", "order-events.fifo")

    # Kept on disk: another process (the `trace` command) sees the same trace, after the daemon stops too.
    daemon.stop()
    assert daemon.store.directory is not None
    assert TraceStore.load(daemon.store.directory).timeline(trace_id) == rows


def test_daemon_drops_what_is_not_the_protocol_and_keeps_the_finished_document(daemon: XRayDaemon) -> None:
    trace_id, start = new_trace_id(), time.time()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for junk in (b"no header", b'{"format": "json", "version": 1}\n[1]', b'"json"\n{}', b"\xff\n{"):
            sender.sendto(junk, ("127.0.0.1", daemon.port))
    document = segment(name="long", trace_id=trace_id, start=start, end=start + 1)
    in_progress = {key: value for key, value in document.items() if key != "end_time"} | {"in_progress": True}
    send_segment(in_progress)
    send_segment(document)
    send_segment(in_progress)  # arriving late (UDP keeps no order) it must not replace the finished one
    _received(daemon, 3)
    assert daemon.dropped == 4
    (row,) = daemon.store.timeline(trace_id)
    assert row.duration_ms == pytest.approx(1000)
    assert parse_datagram(b'{"format":"json","version":1}\n' + json.dumps(document).encode()) == document


def test_render_timeline_is_an_indented_waterfall() -> None:
    rows = [
        TimelineRow(0, "orders-api/prod", "AWS::ApiGateway::Stage", 0, 200, fault=True, http_status=502),
        TimelineRow(1, "OrderSaga", "AWS::StepFunctions::StateMachine", 5, 190, error=True),
        TimelineRow(2, "ReserveInventory", "", 10, 100, error=True, cause="OutOfStock: sku-1: 0 available"),
        TimelineRow(3, "DynamoDB", "aws", 12.5, 4.25, http_status=200, operation="PutItem", resource="Orders"),
        TimelineRow(2, "CloseOrder", "", 150, None),
    ]
    assert render_timeline(rows, width=20) == "\n".join([
        "   START  DURATION                          NAME",
        "   0.0ms     200ms  |====================|  orders-api/prod       [AWS::ApiGateway::Stage]  HTTP 502  FAULT",
        "   5.0ms     190ms  |====================|    OrderSaga           [AWS::StepFunctions::StateMachine]  ERROR",
        "    10ms     100ms  | ==========         |      ReserveInventory  ERROR  OutOfStock: sku-1: 0 available",
        "    12ms     4.2ms  | =                  |        DynamoDB        PutItem Orders  HTTP 200",
        "   150ms   running  |               -----|      CloseOrder",
    ])  # fmt: skip
    assert render_timeline([]) == "(no segments)"


def test_daemon_forwards_finished_documents_to_x_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """To moto's PutTraceSegments, so `aws xray batch-get-traces` answers on the local endpoint."""
    from moto import mock_aws

    with mock_aws():
        xray = boto3.client("xray", region_name=REGION)
        daemon = XRayDaemon(port=0, store_path=tmp_path / "traces", forward_to=xray).start()
        try:
            monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{daemon.port}")
            trace_id, start = new_trace_id(), time.time()
            document = segment(name="OrderSaga", trace_id=trace_id, start=start, end=start + 0.05)
            send_segment({**segment(name="running", trace_id=trace_id, start=start, end=0), "in_progress": True})
            send_segment(document)
            _received(daemon, 2)
            # Generous: the first forward builds the client's first request, which takes seconds on a loaded machine.
            traces = wait_for(
                lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"],
                timeout=15,
                interval=0.02,
                message="the finished segment forwarded to X-Ray",
            )
        finally:
            daemon.stop()
    (trace,) = traces
    assert [json.loads(part["Document"]) for part in trace["Segments"]] == [document]  # not the one in progress
    assert daemon.forward_errors == 0


def test_a_traced_execution_shows_under_the_api_with_its_tasks_and_functions(daemon: XRayDaemon) -> None:
    """saga_local.xray.propagation, a runner standing in for the Lambda runtime, and the daemon:
    the execution's segment under the API segment that called it, its Task subsegments (sent on their own)
    under it, and under each Task the function segment that the runtime sends with the Parent it was given."""
    from moto import mock_aws

    from saga_local.stepfunctions.inprocess import INTERPRETER_CONFIG

    def runtime(target: invoke_hook.LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        header = parse_trace_header(target.trace_header)
        now = time.time()
        send_segment(segment(name=target.name, trace_id=header["Root"], parent_id=header["Parent"], start=now,
                             end=now + 0.001, origin="AWS::Lambda::Function"))  # fmt: skip
        return event, None

    PROPAGATE_TRACES.apply()
    trace_id, api_segment_id, api_start = new_trace_id(), "a1b2c3d4e5f60718", time.time()
    previous_runtime = invoke_hook.run_lambdas_with(runtime)
    try:
        with mock_aws(config=INTERPRETER_CONFIG):
            role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            function = boto3.client("lambda").create_function(
                FunctionName="inventory", Runtime="python3.13", Role=role, Handler="app.handler",
                Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            )["FunctionArn"]  # fmt: skip
            sfn = boto3.client("stepfunctions")
            machine = sfn.create_state_machine(
                name="OrderSaga", roleArn=role, type="EXPRESS",
                definition=json.dumps({"StartAt": "ReserveInventory", "States": {
                    "ReserveInventory": {"Type": "Task", "Resource": function, "Next": "Fail"},
                    "Fail": {"Type": "Fail", "Error": "OutOfStock", "Cause": "no stock"}}}),
            )["stateMachineArn"]  # fmt: skip
            result = sfn.start_sync_execution(
                stateMachineArn=machine, input="{}", traceHeader=format_trace_header(trace_id, api_segment_id)
            )
    finally:
        invoke_hook.run_lambdas_with(previous_runtime)
    send_segment(segment(name="orders-api/prod", trace_id=trace_id, id=api_segment_id, start=api_start,
                         end=time.time(), origin="AWS::ApiGateway::Stage"))  # fmt: skip

    _received(daemon, 4)
    assert daemon.store.traces_for_annotation("executionArn", result["executionArn"]) == [trace_id]
    rows = daemon.store.timeline(trace_id)
    assert [(row.depth, row.name, row.error) for row in rows] == [
        (0, "orders-api/prod", False),
        (1, "OrderSaga", True),
        (2, "ReserveInventory", False),
        (3, "inventory", False),
    ]
    assert rows[1].cause == "OutOfStock: no stock"
    assert "OrderSaga" in render_timeline(rows)
