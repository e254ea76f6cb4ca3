"""Lambda entry point of the payments service: the table of its saga steps, named after their Task states."""

from saga_common.handler import Step, saga_step_handler

from payments import service
from payments.errors import PaymentCancelled, PaymentDeclined
from payments.settings import PaymentsSettings

STEPS = {
    "ChargePayment": Step(service.charge_payment, (PaymentDeclined, PaymentCancelled)),
    "RefundPayment": Step(service.refund_payment),
}

lambda_handler = saga_step_handler(STEPS, PaymentsSettings)
