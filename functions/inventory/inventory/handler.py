"""Lambda entry point of the inventory service: the table of its saga steps."""

from saga_common.handler import saga_step_handler

from inventory import service

lambda_handler = saga_step_handler({"reserve": service.reserve, "release": service.release})
