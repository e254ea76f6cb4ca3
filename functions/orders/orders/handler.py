"""Orders service Lambda: the CreateOrder, ConfirmOrder, CloseOrder and AbandonOrder steps (docs/saga-steps.md)."""

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from saga_common.handler import Step, saga_step_handler

from orders import service
from orders.errors import IdempotencyKeyReused, InvalidOrder, OrderNotPending

# A reused Idempotency-Key answers the same whichever check finds it: Powertools' payload validation
# (IdempotencyValidationError) or the stored request hash (IdempotencyKeyReused).
STEPS = {
    "CreateOrder": Step(service.create_order, (InvalidOrder, IdempotencyKeyReused, IdempotencyValidationError)),
    "ConfirmOrder": Step(service.confirm_order, (OrderNotPending,)),
    "CloseOrder": Step(service.close_order),
    "AbandonOrder": Step(service.abandon_order, (IdempotencyKeyReused,)),
}

lambda_handler = saga_step_handler(STEPS)
