"""saga_local.cost.units: DynamoDB item sizes and capacity units as DynamoDB counts them
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html and
read/write capacity mode pages), request chunks, GB-seconds, and Lambda's log filters."""

import pytest

from saga_local.cost.units import (
    IndexShape,
    LoggingConfig,
    LogLine,
    chunked_requests,
    classify,
    gb_seconds,
    index_write_sizes,
    item_size,
    number_size,
    read_units,
    render_access_log,
    shipped_bytes,
    sqs_request_owner,
    value_size,
    write_units,
)

# ---------------------------------------------------------------- item sizes


def test_a_string_counts_its_name_and_its_utf8_bytes() -> None:
    assert item_size({"id": {"S": "abc"}}) == 2 + 3
    assert item_size({"name": {"S": "café"}}) == 4 + 5  # é is two bytes in UTF-8


def test_a_number_is_one_byte_per_two_significant_digits_plus_one() -> None:
    assert number_size("1") == 2
    assert number_size("12") == 2
    assert number_size("123") == 3
    assert number_size("12345") == 4
    assert number_size("1000") == 2  # trailing zeros trimmed
    assert number_size("0.00120") == 2  # leading and trailing zeros trimmed
    assert item_size({"qty": {"N": "4998"}}) == 3 + 3


def test_binary_counts_raw_bytes_not_base64() -> None:
    assert item_size({"b": {"B": "AAECAwQ="}}) == 1 + 5  # five raw bytes, eight base64 characters


def test_null_and_boolean_are_one_byte() -> None:
    assert item_size({"ok": {"BOOL": True}, "n": {"NULL": True}}) == (2 + 1) + (1 + 1)


def test_lists_and_maps_add_three_bytes_and_one_per_element() -> None:
    assert value_size({"L": []}) == 3
    assert value_size({"M": {}}) == 3
    assert value_size({"L": [{"S": "ab"}, {"N": "7"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"sku": {"S": "SKU-1"}}}) == 3 + 1 + 3 + 5
    nested = {"items": {"L": [{"M": {"q": {"N": "2"}}}]}}
    assert item_size(nested) == 5 + 3 + 1 + (3 + 1 + 1 + 2)


def test_sets_sum_their_members() -> None:
    assert value_size({"SS": ["a", "bc"]}) == 3
    assert value_size({"NS": ["1", "123"]}) == 2 + 3


def test_an_unknown_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown DynamoDB type"):
        value_size({"X": "1"})
    with pytest.raises(ValueError, match="not a DynamoDB number"):
        number_size("twelve")


# ---------------------------------------------------------------- capacity units


def test_writes_are_one_unit_per_kb_started() -> None:
    assert write_units(0) == 1  # a delete of nothing, a failed condition on no item: still one unit
    assert write_units(500) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2  # "a 1.5 KB item takes 2 write capacity units"
    assert write_units(1536) == 2
    assert write_units(3500) == 4


def test_transactional_writes_cost_twice() -> None:
    assert write_units(500, transactional=True) == 2
    assert write_units(1536, transactional=True) == 4


def test_reads_are_per_4_kb_half_a_unit_eventually_consistent() -> None:
    assert read_units(3500, consistent=True) == 1  # "3.5 KB strongly consistent: 1 unit"
    assert read_units(3500, consistent=False) == 0.5
    assert read_units(4097, consistent=True) == 2
    assert read_units(0, consistent=False) == 0.5  # an item not found is still read
    assert read_units(3500, consistent=True, transactional=True) == 2


# The orders table's sparse Sweep index (template.yaml): in it while `sweep` is set, keeps status and attempts.
SWEEP = IndexShape("Sweep", ("sweep", "sweepAt"), ("orderId",), "INCLUDE", ("status", "recoveryAttempts"))
PENDING = {"orderId": {"S": "ord_1"}, "status": {"S": "PENDING"}, "document": {"S": "x" * 2000}}
IN_SWEEP = {**PENDING, "sweep": {"S": "OPEN"}, "sweepAt": {"S": "2026-12-04T10:00:30Z"}}


def test_an_index_keeps_its_keys_the_table_keys_and_what_it_projects() -> None:
    assert SWEEP.entry(PENDING) is None  # no `sweep`: not in the sparse index
    assert SWEEP.entry(IN_SWEEP) == {k: v for k, v in IN_SWEEP.items() if k != "document"}
    assert IndexShape("All", ("sweep",), ("orderId",)).entry(IN_SWEEP) == IN_SWEEP
    assert IndexShape("Keys", ("sweep",), ("orderId",), "KEYS_ONLY").entry(IN_SWEEP) == {
        "orderId": {"S": "ord_1"}, "sweep": {"S": "OPEN"},
    }  # fmt: skip


def test_index_writes_follow_the_item_in_and_out_of_the_index() -> None:
    entry = item_size(SWEEP.entry(IN_SWEEP))
    assert entry < 1024 < item_size(IN_SWEEP)  # the index bills its small copy, not the 2 KB item
    assert index_write_sizes(SWEEP, None, IN_SWEEP) == [entry]  # created in it
    assert index_write_sizes(SWEEP, IN_SWEEP, PENDING) == [entry]  # leaves it (attributes removed)
    assert index_write_sizes(SWEEP, IN_SWEEP, None) == [entry]  # deleted
    assert index_write_sizes(SWEEP, None, PENDING) == []  # never in it: free
    assert index_write_sizes(SWEEP, PENDING, {**PENDING, "document": {"S": "y"}}) == []


def test_an_index_key_change_is_two_writes_and_a_projected_change_one() -> None:
    later = {**IN_SWEEP, "sweepAt": {"S": "2026-12-04T10:01:30Z"}}
    assert index_write_sizes(SWEEP, IN_SWEEP, later) == [
        item_size(SWEEP.entry(IN_SWEEP)),
        item_size(SWEEP.entry(later)),
    ]
    compensating = {**IN_SWEEP, "status": {"S": "COMPENSATING"}}
    assert index_write_sizes(SWEEP, IN_SWEEP, compensating) == [item_size(SWEEP.entry(compensating))]
    # A change outside the index's copy writes nothing to it.
    assert index_write_sizes(SWEEP, IN_SWEEP, {**IN_SWEEP, "document": {"S": "z"}}) == []


def test_a_query_rounds_its_total_not_each_item() -> None:
    # ten items of 500 bytes: 5,000 bytes, two 4 KB units; per item it would have been ten
    assert read_units(10 * 500, consistent=True) == 2
    assert read_units(10 * 500, consistent=False) == 1


def test_sns_and_sqs_bill_per_64_kb_chunk() -> None:
    assert chunked_requests(0) == 1
    assert chunked_requests(65536) == 1
    assert chunked_requests(65537) == 2
    assert chunked_requests(256 * 1024) == 4


def test_duration_in_gb_seconds() -> None:
    assert gb_seconds(1000, 1024) == 1.0
    assert gb_seconds(100, 512) == pytest.approx(0.05)
    assert gb_seconds(100, 64) == pytest.approx(0.00625)  # Express: 100 ms at one 64 MB step


# ---------------------------------------------------------------- what Lambda sends to CloudWatch Logs

REPORT = "REPORT RequestId: 1\tDuration: 12.00 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\tMax Memory Used: 80 MB"
INFO = '{"level":"INFO","message":"step done","service":"orders"}'
WARN = '{"level":"WARNING","message":"late charge"}'
EMF = '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"OrdersConfirmed":[1.0]}'


def on_aws(text: str) -> LogLine:
    """`classify(text)`, for a line that is on AWS (classify returns None only for local-only lines)."""
    classified = classify(text)
    assert classified is not None, text
    return classified


def test_lines_are_classified_as_lambda_sees_them() -> None:
    assert on_aws("START RequestId: 1 Version: $LATEST").kind == "system"
    assert on_aws(REPORT).kind == "system"
    assert classify(INFO) == LogLine("app", 20, len(INFO))
    assert on_aws(WARN).level == 30
    assert on_aws(EMF).kind == "emf"
    assert on_aws("[ERROR]\t2025-01-01T00:00:00Z\t1\tboom").level == 40
    assert classify("FAULT RequestId: 1 injected X") is None  # the local injector's line is not on AWS


def test_text_format_ships_everything() -> None:
    text = LoggingConfig()
    for line in (REPORT, INFO, WARN, EMF):
        assert shipped_bytes(on_aws(line), text) == len(line)


def test_json_format_filters_system_and_application_levels() -> None:
    config = LoggingConfig.of({"LogFormat": "JSON", "SystemLogLevel": "WARN", "ApplicationLogLevel": "WARN"})
    assert shipped_bytes(on_aws(REPORT), config) == 0
    assert shipped_bytes(on_aws(INFO), config) == 0
    assert shipped_bytes(on_aws(WARN), config) == len(WARN)
    assert shipped_bytes(on_aws(EMF), config) == 0  # no level: INFO to Lambda
    plain = on_aws("hello")
    assert shipped_bytes(plain, LoggingConfig.of({"LogFormat": "JSON"})) > len("hello")


def test_a_bad_logging_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="LogFormat"):
        LoggingConfig.of({"LogFormat": "XML"})
    with pytest.raises(ValueError, match="SystemLogLevel"):
        LoggingConfig.of({"LogFormat": "JSON", "SystemLogLevel": "LOUD"})


def test_access_log_renders_the_stage_format() -> None:
    line = render_access_log('{"id":"$context.requestId","status":"$context.status","e":"$context.error.message"}',
                             {"requestId": "r1", "status": 201, "error": None})  # fmt: skip
    assert line == '{"id":"r1","status":"201","e":"-"}'


# ---------------------------------------------------------------- SQS requests: whose are they


@pytest.mark.parametrize(
    "operation",
    [
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
    ],
)
def test_a_readers_requests_are_the_consumers(operation: str) -> None:
    assert sqs_request_owner(operation) == "consumer"


@pytest.mark.parametrize("operation", ["SendMessage", "SendMessageBatch", "GetQueueUrl", "GetQueueAttributes"])
def test_a_send_or_a_lookup_is_the_applications(operation: str) -> None:
    assert sqs_request_owner(operation) == "application"
