"""Every path of the order saga, in milliseconds: the real ASL file, run by moto's interpreter with the mocked service
integrations of statemachine/order_saga.mock.json (Step Functions Local's MockConfigFile format). No function code
runs: every Task answers what its test case mocks, and a Task the test case does not mock fails the execution.

EXPECTED has one row per test case of the file: the states entered in order (a Parallel state is followed by its
branches, branch by branch), the retries each state made, the execution's status, error and output or cause, and
the HTTP status API Gateway's response mapping (api/openapi.yaml) gives that StartSyncExecution response. A Parallel
state that failed shows only its failing branch: the others were stopped at a moment that is not deterministic
(on AWS either). How to add a test case: docs/testing-the-state-machine.md.

tests/statemachine/test_mock_coverage.py checks that the test cases, together, enter every state and exercise every
Retry, Catch and Choice rule, from the same executions, read the same way (tests/support/mocked_saga.py).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.mocked_saga import (
    EXECUTION_INPUT,
    ORDER_ID,
    STATE_MACHINE_NAME,
    MockedSaga,
    api_answer,
    mock_config,
    mock_test_cases,
    mocked_attempts,
    mocked_saga,
    outcome,
    returned,
    stored,
)


@pytest.fixture(scope="module")
def saga() -> Iterator[MockedSaga]:
    with mocked_saga() as running:
        yield running


# ---------------------------------------------------------------------------------------------- expectations

States = tuple[str, ...]  # a path: the names of the states entered, in order

START = ("IdentifyOrder", "IsRecovery")  # a new order id, unless the recovery sweep names the order
KEY_CLAIMED = (*START, "ClaimIdempotencyKey", "IsSameKeyRequest")  # the caller's Idempotency-Key, by this request
NEW = (*KEY_CLAIMED, "DescribeNewOrder", "CreateOrder")  # claimed now: the order stored PENDING (or CreateOrder failed)
READ = ("ReadStoredOrder", "IsSameRequest")
FOUND = (*KEY_CLAIMED, "UseClaimedOrder", "FindExistingOrder", "IsOrderStored", *READ)  # claimed before: its order
RESUMED = (*FOUND, "ResumeOrder", "RouteByOrderStatus")  # ... stored by the same request: its saga goes on
# The recovery sweep's execution: the order it names, read and resumed.
RECOVERED = (*START, "RecoverOrder", "FindExistingOrder", "IsOrderStored", *READ, "ResumeOrder", "RouteByOrderStatus")


def forward(start: States = NEW) -> States:
    """The forward steps up to ConfirmOrder, from a new or a resumed order."""
    return (*start, "ReserveInventory", "ChargePayment", "BillOrder", "DescribeConfirmedOrder", "ConfirmOrder")


TO_BILL = (*NEW, "ReserveInventory", "ChargePayment", "BillOrder")
FORWARD = forward()
CONFIRMED = (*FORWARD, "OrderConfirmedNow")
NOT_PENDING = (*FORWARD, "FindUnconfirmedOrder", "ConfirmedMeanwhile")  # ConfirmOrder's condition failed
REJECTED = ("DescribeOutcome", "OrderRejected")
UNAVAILABLE = ("DescribeOutcome", "DescribeServiceUnavailable", "ServiceUnavailable")
NOT_UNDONE = ("DescribeOutcome", "DescribeCompensationFailure", "CompensationFailed")
NOT_CLOSED = ("OrderNotClosed", "CompensationFailed")
CLOSED_MEANWHILE = ("FindClosedOrder", "ResumeClosedOrder")  # CloseOrder's condition failed: the stored outcome stands
NOT_CREATED = ("OrderUnavailable", "ServiceUnavailable")
RAN, SKIPPED, FAILED = "ran", "skipped", "failed"


RETRIED_COMPENSATION = ("RetryCompensation", "Compensate", "UndoVoidInvoice?", "VoidInvoice", "UndoRefundPayment?")
CLAIMED = ("ClaimCompensation",)  # the order marked as being undone (or its claim failed): Compensate
# The claim's condition failed (the order was CONFIRMED), but the order read is not CONFIRMED (closed since): undo.
CLAIM_REFUSED = ("ClaimCompensation", "FindConfirmedOrder", "ConfirmedBeforeCompensation")
CLAIM_NOT_READABLE = ("ClaimCompensation", "FindConfirmedOrder")  # ... and the order cannot be read: undo


def compensation(
    undo: str, void: str, refund: str, release: str, reason: str, claim: States = CLAIMED
) -> tuple[str, ...]:
    """The Undo* state, the claim (ClaimCompensation, then what its failed condition read), Compensate and its three
    branches (each compensation RAN, SKIPPED or FAILED), the failure's Reason<reason> state, the order described
    CANCELLED (or COMPENSATION_FAILED when one FAILED), CloseOrder."""

    def branch(task: str, how: str) -> tuple[str, ...]:
        return (f"Undo{task}?", *{RAN: (task,), SKIPPED: (f"{task}Skipped",), FAILED: (task, f"{task}Failed")}[how])

    described = "DescribeCompensationFailedOrder" if FAILED in (void, refund, release) else "DescribeCancelledOrder"
    return (undo, *claim, "Compensate", *branch("VoidInvoice", void), *branch("RefundPayment", refund),
            *branch("ReleaseInventory", release), "ClassifyFailure", f"Reason{reason}", "AnyCompensationFailed",
            described, "StayInTheSweep" if FAILED in (void, refund, release) else "LeaveTheSweep",
            "CloseOrder")  # fmt: skip


def nothing_to_undo(reason: str) -> tuple[str, ...]:
    return compensation("NothingToUndo", SKIPPED, SKIPPED, SKIPPED, reason)


def undo_inventory(reason: str = "ServiceUnavailable") -> tuple[str, ...]:
    return compensation("UndoInventory", SKIPPED, SKIPPED, RAN, reason)


UNDO_PAYMENT = compensation("UndoPayment", SKIPPED, RAN, RAN, "ServiceUnavailable")
UNDO_BILLING = compensation("UndoBilling", RAN, RAN, RAN, "ServiceUnavailable")

UNAVAILABLE_DETAIL = "The order could not be completed because a service it depends on was unavailable."
NOT_CREATED_DETAIL = "The order could not be placed right now; retry with the same Idempotency-Key."
NOT_CLOSED_DETAIL = "The order could not be closed after its compensations ran; it needs manual action."
KEY_REUSED_DETAIL = "This Idempotency-Key was already used with a different request body."
OUT_OF_STOCK_DETAIL = "SKU-MUG: requested 2, available 1"
DECLINED_DETAIL = "the card was declined by its issuer"


class Timestamp:
    """Equal to any timestamp as Step Functions writes `$$.State.EnteredTime` (`2026-12-03T20:14:03.123Z`): the
    times the saga stamps on an order it writes are the execution's own."""

    PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.PATTERN.fullmatch(other) is not None

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<a timestamp>"


STAMPED = Timestamp()


def confirmed_now(created_at: object = STAMPED) -> dict[str, Any]:
    """The order DescribeConfirmedOrder makes of the forward steps' results (their mocked responses) and ConfirmOrder
    writes: the 201 body. A new order was created now; a resumed one keeps its stored createdAt."""
    reservation = returned("ReserveInventoryReserved")
    return {
        "orderId": ORDER_ID,
        "status": "CONFIRMED",
        "customerId": EXECUTION_INPUT["request"]["customerId"],
        "items": reservation["items"],
        "total": reservation["total"],
        "currency": reservation["currency"],
        "paymentId": returned("ChargePaymentCaptured")["paymentId"],
        "invoiceId": returned("BillOrderBilled")["invoiceId"],
        "failureReason": None,
        "failedCompensations": [],
        "createdAt": created_at,
        "updatedAt": STAMPED,
    }


@dataclass(frozen=True)
class Expected:
    path: States
    http: int  # the status POST /orders answers
    status: str  # the execution's
    error: str | None  # the execution's
    result: Any  # the output of a SUCCEEDED execution, the cause of a FAILED one
    retries: dict[str, int] = field(default_factory=dict)  # state -> retries it made (attempts - 1)


def confirmed(path: States = CONFIRMED, order: Any = None, **retries: int) -> Expected:
    """201 with the confirmed order: the one this execution confirmed (by default), or `order` as stored."""
    return Expected(path, 201, "SUCCEEDED", None, confirmed_now() if order is None else order, retries)


def rejected(path: States, http: int, code: str, detail: str, *, order: bool = True, **retries: int) -> Expected:
    """A business outcome: the execution succeeds with {code, detail, orderId?}."""
    return Expected(path, http, "SUCCEEDED", None, _problem(code, detail, order), retries)


def failed(path: States, http: int, error: str, detail: str, *, order: bool = True, **retries: int) -> Expected:
    """A Fail state: the execution fails with `error` and the cause {code: error, detail, orderId?}."""
    return _failed(path, http, error, detail, order, retries)


def _failed(path: States, http: int, error: str, detail: str, order: bool, retries: dict[str, int]) -> Expected:
    return Expected(path, http, "FAILED", error, _problem(error, detail, order), retries)


def _problem(code: str, detail: str, order: bool) -> dict[str, str]:
    return {"code": code, "detail": detail, **({"orderId": ORDER_ID} if order else {})}


def unavailable(path: States, **retries: int) -> Expected:
    return _failed(path, 503, "SERVICE_UNAVAILABLE", UNAVAILABLE_DETAIL, True, retries)


def not_created(path: States, **retries: int) -> Expected:
    """503 without an order: nothing was stored (or what was could not be read), nothing was done."""
    return _failed(path, 503, "SERVICE_UNAVAILABLE", NOT_CREATED_DETAIL, False, retries)


def compensation_failed(path: States, cause: str = UNAVAILABLE_DETAIL, **retries: int) -> Expected:
    """The 500 says the order needs manual action, then why it was being undone (the original failure)."""
    detail = f"The order could not be fully undone and needs manual action. It failed because: {cause}"
    return _failed(path, 500, "COMPENSATION_FAILED", detail, True, retries)


def not_closed(path: States, **retries: int) -> Expected:
    return _failed(path, 500, "COMPENSATION_FAILED", NOT_CLOSED_DETAIL, True, retries)


# One row per test case of statemachine/order_saga.mock.json, in the file's order.
# fmt: off
EXPECTED: dict[str, Expected] = {
    # ------------------------------------------------------------------ the happy path, and replays of a known key
    "HappyPath": confirmed(),
    "ReplayOfConfirmedOrder": confirmed((*RESUMED, "OrderConfirmed"), stored("FindExistingOrderConfirmed")),
    "ReplayOfCancelledOrder": rejected((*RESUMED, *REJECTED), 409, "OUT_OF_STOCK", OUT_OF_STOCK_DETAIL),
    "ReplayOfOrderNeedingManualAction": compensation_failed((*RESUMED, *NOT_UNDONE)),
    # A replay of an order whose saga stopped midway (its execution timed out, say): the saga goes on from it.
    "ReplayOfPendingOrder": confirmed((*forward(RESUMED), "OrderConfirmedNow"),
                                      confirmed_now(stored("FindExistingOrderPending")["createdAt"])),
    # ------------------------------------------------------------------ business failures: never retried
    "IdempotencyKeyReused": rejected((*KEY_CLAIMED, "RejectReusedIdempotencyKey"), 422, "IDEMPOTENCY_KEY_REUSED",
                                     KEY_REUSED_DETAIL, order=False),
    # The claim failed: whether it landed is unknown, nothing else was done; a retry with the key finds out.
    "ClaimIdempotencyKeyUnavailable": not_created((*START, "ClaimIdempotencyKey", *NOT_CREATED)),
    "OutOfStock": rejected((*NEW, "ReserveInventory", *nothing_to_undo("OutOfStock"), *REJECTED), 409,
                           "OUT_OF_STOCK", OUT_OF_STOCK_DETAIL),
    "UnknownSku": rejected((*NEW, "ReserveInventory", *nothing_to_undo("UnknownSku"), *REJECTED), 422, "UNKNOWN_SKU",
                           "SKU-TEE is not in the catalog"),
    "MixedCurrencies": rejected((*NEW, "ReserveInventory", *nothing_to_undo("InvalidOrder"), *REJECTED), 400,
                                "INVALID_REQUEST",
                                "the SKUs are priced in different currencies (EUR, USD); an order has one"),
    # A compensation's fence found by a late forward step: final, but the saga reports it as unavailable.
    "ReservationAlreadyReleased": unavailable((*NEW, "ReserveInventory", *nothing_to_undo("ServiceUnavailable"),
                                               *UNAVAILABLE)),
    "PaymentDeclined": rejected((*NEW, "ReserveInventory", "ChargePayment", *undo_inventory("PaymentDeclined"),
                                 *REJECTED), 402, "PAYMENT_DECLINED", DECLINED_DETAIL),
    "PaymentCancelled": unavailable((*NEW, "ReserveInventory", "ChargePayment", *undo_inventory(), *UNAVAILABLE)),
    "BillOrderVoided": unavailable((*TO_BILL, *UNDO_BILLING, *UNAVAILABLE)),
    # ------------------------------------------------------------------ concurrent replays: the record's conditions
    # A replay of the same request, running at the same time, confirmed the order first: that outcome stands.
    "ConfirmedMeanwhile": confirmed((*NOT_PENDING, "ResumeConfirmedOrder", "OrderConfirmed"),
                                    stored("FindUnconfirmedOrderConfirmed")),
    # ... or closed it first: what this execution did is undone, and the stored outcome stands.
    "ConfirmationOvertakenByClose": unavailable((*NOT_PENDING, *UNDO_BILLING, *CLOSED_MEANWHILE, *UNAVAILABLE)),
    "ClosedMeanwhile": rejected((*NEW, "ReserveInventory", *nothing_to_undo("OutOfStock"), *CLOSED_MEANWHILE,
                                 *REJECTED), 409, "OUT_OF_STOCK", OUT_OF_STOCK_DETAIL),
    # ------------------------------------------------------------------ a compensation claims the order first
    # A duplicate delivery confirmed the order (this one's ChargePayment found its charge in progress): the claim's
    # condition fails on the CONFIRMED order, and this execution answers that order's 201, undoing nothing.
    "CompensationFindsOrderConfirmed": confirmed(
        (*NEW, "ReserveInventory", "ChargePayment", "UndoPayment", "ClaimCompensation", "FindConfirmedOrder",
         "ConfirmedBeforeCompensation", "ResumeConfirmedOrder", "OrderConfirmed"),
        stored("FindConfirmedOrderConfirmed"), ChargePayment=1,
    ),
    # The claim found the order CONFIRMED, but it was closed before it could be read: the saga undoes its own steps,
    # and CloseOrder's condition finds the outcome that stands.
    "CompensationFindsOrderClosed": unavailable(
        (*NEW, "ReserveInventory", "ChargePayment",
         *compensation("UndoPayment", SKIPPED, RAN, RAN, "ServiceUnavailable", CLAIM_REFUSED), *CLOSED_MEANWHILE,
         *UNAVAILABLE),
    ),
    # A duplicate delivery began undoing the order (its mark is on the record): ConfirmOrder's condition refuses it,
    # the order is found PENDING, and this execution compensates too (the compensations are idempotent).
    "ConfirmationRefusedByCompensation": unavailable((*NOT_PENDING, *UNDO_BILLING, *UNAVAILABLE)),
    # The claim itself failed (it is not retried): not knowing, the saga undoes, as before the claim existed.
    "ClaimCompensationUnavailable": unavailable((*TO_BILL, *UNDO_BILLING, *UNAVAILABLE)),
    # The claim's condition failed but the order cannot be read: not knowing, the saga undoes.
    "ClaimRefusedOrderNotReadable": unavailable(
        (*NEW, "ReserveInventory",
         *compensation("UndoInventory", SKIPPED, SKIPPED, RAN, "ServiceUnavailable", CLAIM_NOT_READABLE),
         *UNAVAILABLE),
    ),
    # ------------------------------------------------------------------ throttled, retried, then succeeding
    # A forward step retries only what Lambda or DynamoDB refused without running it (docs/saga.md, The time budget).
    "ReserveInventoryRetried": confirmed(ReserveInventory=1),
    "ChargePaymentRetried": confirmed(ChargePayment=1),
    # A duplicate's charge of the order was in progress: the retry waits it out (1 s, the function's Timeout) and
    # gets its answer from the idempotency record.
    "ChargePaymentInProgressWaitedOut": confirmed(ChargePayment=1),
    "BillOrderRetried": confirmed(BillOrder=1),
    # A forward step's Task timeout already held a cold start: it is not retried, what was done is undone.
    "BillOrderTimedOutNotRetried": unavailable((*TO_BILL, *UNDO_BILLING, *UNAVAILABLE)),
    "ConfirmOrderRetried": confirmed(ConfirmOrder=1),
    # The write landed but its answer timed out (not retried): the claim's condition finds the order CONFIRMED, and
    # that outcome stands, nothing undone.
    "ConfirmOrderTimedOutAfterItsWriteLanded": confirmed((*FORWARD, "UndoBilling", *CLAIM_REFUSED,
                                                          "ResumeConfirmedOrder", "OrderConfirmed"),
                                                         stored("FindConfirmedOrderConfirmed")),
    # ------------------------------------------------------------------ CreateOrder failing, and the key record
    # CreateOrder is not retried, nor is the order read after it fails (the time budget holds two DynamoDB calls before
    # the forward steps): a 503 to retry with the same key, which reads the order (ReplayOfPendingOrder) or writes it.
    "CreateOrderUnavailable": not_created((*NEW, *NOT_CREATED)),
    "CreateOrderConditionFailed": not_created((*NEW, *NOT_CREATED)),  # a new random id taken: only a safeguard
    "CreateOrderTimedOutAfterWriting": not_created((*NEW, *NOT_CREATED)),
    # A key record and an order of another request (the key record matched this one's): refused, as a reused key.
    "ReplayFindsAnotherRequestsOrder": rejected((*FOUND, "RejectReusedIdempotencyKey"), 422, "IDEMPOTENCY_KEY_REUSED",
                                                KEY_REUSED_DETAIL, order=False),
    "ReplayNotReadable": not_created((*KEY_CLAIMED, "UseClaimedOrder", "FindExistingOrder", *NOT_CREATED)),
    # The key was claimed but its order never stored (its CreateOrder failed, or the execution stopped in between):
    # stored now, PENDING, and a 503 to retry, which finds it and runs its saga.
    "KeyClaimedOrderNeverStored": not_created((*KEY_CLAIMED, "UseClaimedOrder", "FindExistingOrder", "IsOrderStored",
                                               "DescribeClaimedOrder", "StoreClaimedOrder", *NOT_CREATED)),
    "KeyClaimedOrderStoredMeanwhile": not_created((*KEY_CLAIMED, "UseClaimedOrder", "FindExistingOrder",
                                                   "IsOrderStored", "DescribeClaimedOrder", "StoreClaimedOrder",
                                                   *NOT_CREATED)),
    # ------------------------------------------------------------------ retries exhausted: every compensation route
    "ReserveInventoryUnavailable": unavailable((*NEW, "ReserveInventory", *undo_inventory(), *UNAVAILABLE)),
    "ChargePaymentUnavailable": unavailable((*NEW, "ReserveInventory", "ChargePayment", *UNDO_PAYMENT, *UNAVAILABLE)),
    "ChargePaymentTimedOut": unavailable((*NEW, "ReserveInventory", "ChargePayment", *UNDO_PAYMENT, *UNAVAILABLE)),
    "BillOrderUnavailable": unavailable((*TO_BILL, *UNDO_BILLING, *UNAVAILABLE)),
    "BillOrderThrottled": unavailable((*TO_BILL, *UNDO_BILLING, *UNAVAILABLE)),
    "ConfirmOrderUnavailable": unavailable((*FORWARD, *UNDO_BILLING, *UNAVAILABLE), ConfirmOrder=1),
    # Not knowing whether the order was confirmed, the saga undoes it: CloseOrder closes a CONFIRMED order too.
    "ConfirmOrderConflictNotReadable": unavailable((*FORWARD, "FindUnconfirmedOrder", *UNDO_BILLING, *UNAVAILABLE)),
    # ------------------------------------------------------------------ each compensation failing once, then done
    "VoidInvoiceRetried": unavailable((*FORWARD, *UNDO_BILLING, *UNAVAILABLE), ConfirmOrder=1, VoidInvoice=1),
    "RefundPaymentRetried": unavailable((*FORWARD, *UNDO_BILLING, *UNAVAILABLE), ConfirmOrder=1, RefundPayment=1),
    "ReleaseInventoryRetried": unavailable((*FORWARD, *UNDO_BILLING, *UNAVAILABLE), ConfirmOrder=1,
                                           ReleaseInventory=1),
    "CloseOrderRetried": unavailable((*FORWARD, *UNDO_BILLING, *UNAVAILABLE), ConfirmOrder=1, CloseOrder=1),
    # The close timed out (a DynamoDB write retries throttles only): whether it landed is unknown, someone must look.
    "CloseOrderTimedOut": not_closed((*NEW, "ReserveInventory", *nothing_to_undo("OutOfStock"), *NOT_CLOSED)),
    # ------------------------------------------------------------------ a compensation failing for good
    "VoidInvoiceFailed": compensation_failed(
        (*FORWARD, *compensation("UndoBilling", FAILED, RAN, RAN, "ServiceUnavailable"), *NOT_UNDONE),
        ConfirmOrder=1, VoidInvoice=1,
    ),
    "RefundPaymentFailed": compensation_failed(
        (*NEW, "ReserveInventory", "ChargePayment", *compensation("UndoPayment", SKIPPED, FAILED, RAN,
                                                                  "ServiceUnavailable"), *NOT_UNDONE),
        RefundPayment=1,
    ),
    # The 500's detail names the original failure (the decline), not the compensation's.
    "ReleaseInventoryFailed": compensation_failed(
        (*NEW, "ReserveInventory", "ChargePayment",
         *compensation("UndoInventory", SKIPPED, SKIPPED, FAILED, "PaymentDeclined"), *NOT_UNDONE),
        DECLINED_DETAIL, ReleaseInventory=1,
    ),
    "CloseOrderFailed": not_closed((*NEW, "ReserveInventory", *nothing_to_undo("OutOfStock"), *NOT_CLOSED),
                                   CloseOrder=1),
    # Closed meanwhile, but the closed order cannot be read: the outcome is unknown, and someone must look.
    "ClosedMeanwhileNotReadable": not_closed((*NEW, "ReserveInventory", *nothing_to_undo("OutOfStock"),
                                              "FindClosedOrder", *NOT_CLOSED)),
    # InvalidCommand is a bug in the workflow, not a technical failure: no step retries it.
    "WorkflowBugNotRetried": compensation_failed(
        (*FORWARD, *compensation("UndoBilling", FAILED, FAILED, FAILED, "ServiceUnavailable"), *NOT_UNDONE),
        ConfirmOrder=1,
    ),
    # ------------------------------------------------------------------ the recovery sweep (functions/recovery_sweep)
    # A COMPENSATION_FAILED order, run again by the sweep (which names it: read, never created, no key claimed): every
    # compensation again, then closed with the reason it failed for in the first place (here a service being
    # unavailable: 503), or COMPENSATION_FAILED once more.
    "RecoveryRetriesCompensation": unavailable(
        (*RECOVERED, *RETRIED_COMPENSATION, "RefundPayment", "UndoReleaseInventory?", "ReleaseInventory",
         "ClassifyFailure", "KeepStoredReason", "AnyCompensationFailed", "DescribeCancelledOrder", "LeaveTheSweep",
         "CloseOrder", *UNAVAILABLE)),
    "RecoveryRetryFailsAgain": compensation_failed((*RECOVERED, *RETRIED_COMPENSATION, "RefundPayment",
                                                    "RefundPaymentFailed", "UndoReleaseInventory?", "ReleaseInventory",
                                                    "ClassifyFailure", "KeepStoredReason", "AnyCompensationFailed",
                                                    "DescribeCompensationFailedOrder", "StayInTheSweep", "CloseOrder",
                                                    *NOT_UNDONE), RefundPayment=1),
    # The order the sweep names is not there (nothing the sweep reads is deleted: a safeguard): nothing is done.
    "RecoveryFindsNoOrder": not_created((*START, "RecoverOrder", "FindExistingOrder", "IsOrderStored", *NOT_CREATED)),
}
# fmt: on


# ---------------------------------------------------------------------------------------------- the tests


def test_every_test_case_of_the_mock_file_has_a_row_of_expectations() -> None:
    assert list(EXPECTED) == mock_test_cases(), "EXPECTED needs one row per test case of the file, in its order"


@pytest.mark.parametrize("test_case", list(EXPECTED))
def test_path_and_retries(saga: MockedSaga, test_case: str) -> None:
    result = outcome(saga, test_case)
    assert result.functions_called == ()
    assert result.path == EXPECTED[test_case].path
    assert result.retries == EXPECTED[test_case].retries


@pytest.mark.parametrize("test_case", list(EXPECTED))
def test_each_attempt_fails_with_the_error_its_test_case_throws(saga: MockedSaga, test_case: str) -> None:
    """The interpreter surfaces a mocked Throw as the service's own error (States.Timeout included), attempt by
    attempt, and uses the mocked attempts in order."""
    result = outcome(saga, test_case)
    for state, mocked_response in mock_config()["StateMachines"][STATE_MACHINE_NAME]["TestCases"][test_case].items():
        run = result.runs.get(state)
        if run is None or result.cut_short(state):
            continue
        answers = mocked_attempts(mocked_response)[: run.attempts]
        assert run.errors == [answer["Throw"]["Error"] for answer in answers if "Throw" in answer], state


@pytest.mark.parametrize("test_case", list(EXPECTED))
def test_execution_status_error_and_result(saga: MockedSaga, test_case: str) -> None:
    result, expected = outcome(saga, test_case), EXPECTED[test_case]
    assert (result.status, result.error) == (expected.status, expected.error), result.response.get("cause")
    assert result.result == expected.result


@pytest.mark.parametrize("test_case", list(EXPECTED))
def test_http_answer(saga: MockedSaga, test_case: str) -> None:
    result, expected = outcome(saga, test_case), EXPECTED[test_case]
    answer = api_answer(result.response)
    assert answer.status == expected.http
    if expected.http == 201:
        assert answer.body == expected.result
        assert answer.headers["Location"] == f"/dev/orders/{ORDER_ID}"
        return
    problem = answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert (problem["status"], problem["code"], problem["detail"]) == (
        expected.http,
        expected.result["code"],
        expected.result["detail"],
    )
    assert problem.get("orderId") == expected.result.get("orderId")
    assert answer.headers.get("Retry-After") == ("2" if expected.http == 503 else None)
