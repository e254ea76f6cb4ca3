"""Orders service Lambda: the saga's create, confirm, close and abandon steps (docs/saga-steps.md)."""

from saga_common.handler import saga_step_handler

from orders import service

lambda_handler = saga_step_handler(
    {
        "create": service.create_order,
        "confirm": service.confirm_order,
        "close": service.close_order,
        "abandon": service.abandon_order,
    }
)
