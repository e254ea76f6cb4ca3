"""Domain errors. Step Functions sees an exception's class name as the error name.

A BusinessError is a final answer (out of stock, card declined): the state machine sends it
straight to compensation. Anything else is technical and is retried by the state machine.
"""


class BusinessError(Exception):
    """A rule of the business said no. Retrying gives the same answer."""


class InvalidCommand(BusinessError):
    """The step was invoked with an input it cannot act on (a bug in the caller, not a user error)."""
