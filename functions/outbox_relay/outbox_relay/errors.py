"""The outbox relay's errors. None reaches Step Functions: the relay runs on the orders table's stream."""


class PoisonRecordError(Exception):
    """A stream record that should make an event but cannot: retrying it will not help."""


class EarlierRecordFailedError(Exception):
    """Not attempted, because an earlier record of the batch failed."""
