"""Domain errors. Step Functions sees an exception's class name as the error name.

A BusinessError is a final answer (out of stock, card declined): the state machine sends it
straight to compensation. Anything else is technical and is retried by the state machine; the
technical errors this code raises itself derive from TechnicalError.
"""


class BusinessError(Exception):
    """A rule of the business said no. Retrying gives the same answer."""


class InvalidCommand(BusinessError):
    """The step was invoked with an input it cannot act on (a bug in the caller, not a user error)."""


class TechnicalError(Exception):
    """Something failed that a later attempt may not hit: the state machine retries the step."""


class ConcurrentUpdate(TechnicalError):
    """A record kept changing under a read-then-conditional-write step, round after round: concurrent
    writers (a retry of the same step, a compensation) were still busy. A retry reads the settled state."""


class ConfigurationError(RuntimeError):
    """A setting the function reads from its environment is missing or malformed (template.yaml sets every one):
    raised when the settings are read, before any step runs. The message names the variable."""
