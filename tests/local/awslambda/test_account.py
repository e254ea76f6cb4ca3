"""saga_local.awslambda.account: the emulated account's Lambda concurrency, and moto's Lambda API reporting it."""

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from saga_local.awslambda.account import (
    ACCOUNT_LIMIT,
    RESERVED_LIMIT,
    ConcurrencyAccount,
    ReservationRefused,
    Throttled,
    concurrency_account,
)
from saga_local.core import patches

REGION = "us-east-1"
ACCOUNT = "123456789012"
REFUSED = (
    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below "
    "its minimum value of [100]."
)


def test_a_reserved_function_gets_exactly_its_reservation_and_the_others_share_the_rest() -> None:
    account = ConcurrencyAccount(quota=150)
    account.reserve("reserved", 50)
    assert account.unreserved == 100

    with _admitted(account, "reserved", 50):
        with pytest.raises(Throttled) as refused:
            _enter(account, "reserved")
        assert (refused.value.reason, str(refused.value)) == (RESERVED_LIMIT, "Rate Exceeded.")
        with _admitted(account, "a", 60), _admitted(account, "b", 40):  # 100 shared, reserved ones not counted
            with pytest.raises(Throttled) as shared:
                _enter(account, "a")
            assert shared.value.reason == ACCOUNT_LIMIT
        assert account.in_flight() == 50
    assert account.in_flight() == 0


def test_a_reservation_leaving_under_100_unreserved_is_refused_with_lambdas_message() -> None:
    account = ConcurrencyAccount()  # AWS's default quota
    assert account.quota == 1000
    account.reserve("a", 450)
    account.reserve("b", 450)
    with pytest.raises(ReservationRefused) as refused:
        account.reserve("c", 1)
    assert str(refused.value) == REFUSED
    account.reserve("b", 400)  # changing a reservation counts only the others
    account.unreserve("a")
    assert account.unreserved == 600
    assert account.reserved("b") == 400


def test_a_new_accounts_quota_of_10_can_reserve_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA", "10")
    account = ConcurrencyAccount()
    assert (account.quota, account.unreserved_minimum) == (10, 10)
    with pytest.raises(ReservationRefused, match=r"below its minimum value of \[10\]\.$"):
        account.reserve("a", 1)


@pytest.mark.parametrize("value", ["0", "ten", "-5"])
def test_a_bad_quota_setting_is_a_clear_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA", value)
    with pytest.raises(ValueError, match="SAGA_LOCAL_LAMBDA_CONCURRENCY_QUOTA must be a whole number"):
        ConcurrencyAccount()


def test_get_account_settings_and_function_concurrency_reflect_the_emulated_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a preflight reads with boto3: the quota, what reservations leave, and Lambda's refusal."""
    from moto import mock_aws

    patches.apply_all()
    with mock_aws():
        lambda_ = boto3.client("lambda", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        for name in ("a", "b"):
            lambda_.create_function(FunctionName=name, Runtime="python3.13", Role=role["Role"]["Arn"],
                                    Handler="app.handler", Code={"ZipFile": _zip()})  # fmt: skip
        limit = lambda_.get_account_settings()["AccountLimit"]
        assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (1000, 1000)

        lambda_.put_function_concurrency(FunctionName="a", ReservedConcurrentExecutions=600)
        assert lambda_.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 400
        assert lambda_.get_function_concurrency(FunctionName="a")["ReservedConcurrentExecutions"] == 600
        with pytest.raises(ClientError) as refused:
            lambda_.put_function_concurrency(FunctionName="b", ReservedConcurrentExecutions=301)
        assert refused.value.response["Error"] == {"Code": "InvalidParameterValueException", "Message": REFUSED}
        assert concurrency_account(ACCOUNT, REGION).reserved("b") is None

        lambda_.delete_function_concurrency(FunctionName="a")
        assert lambda_.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
        lambda_.put_function_concurrency(FunctionName="b", ReservedConcurrentExecutions=900)
        lambda_.delete_function(FunctionName="b")  # its reservation goes with it
        settings = lambda_.get_account_settings()
        assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
        assert settings["AccountUsage"]["FunctionCount"] == 1


def _admitted(account: ConcurrencyAccount, function: str, count: int) -> Any:
    import contextlib

    stack = contextlib.ExitStack()
    for _ in range(count):
        stack.enter_context(account.admit(function))
    return stack


def _enter(account: ConcurrencyAccount, function: str) -> None:
    with account.admit(function):
        pass


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", json.dumps(""))
    return buffer.getvalue()
