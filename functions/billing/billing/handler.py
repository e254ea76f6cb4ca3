"""Lambda entry point of the billing service: the table of its saga steps."""

from saga_common.handler import saga_step_handler

from billing import service

lambda_handler = saga_step_handler(
    {
        "createInvoice": service.create_invoice,
        "writeLedgerEntry": service.write_ledger_entry,
        "voidInvoice": service.void_invoice,
    }
)
