"""Lambda entry point of the payments service: the table of its saga steps."""

from saga_common.handler import saga_step_handler

from payments import service

lambda_handler = saga_step_handler({"charge": service.charge, "refund": service.refund})
