"""Lambda entry point of the billing service: the table of its saga steps, named after their Task states."""

from saga_common.handler import Step, saga_step_handler

from billing import service
from billing.errors import InvoiceVoided
from billing.settings import BillingSettings

STEPS = {
    "BillOrder": Step(service.bill_order, (InvoiceVoided,)),
    "VoidInvoice": Step(service.void_invoice),
}

lambda_handler = saga_step_handler(STEPS, BillingSettings)
