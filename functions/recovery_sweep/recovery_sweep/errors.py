"""The recovery sweep's errors. None reaches Step Functions: EventBridge Scheduler invokes the sweep."""


class SweptMeanwhile(Exception):
    """Another sweep (or the order's own saga) changed the order since it was read: leave it to them."""


class NothingToReplay(Exception):
    """The order has no saved request (written before the sweep existed, or finished meanwhile)."""
