"""What every saga function shares: the entry decorator (entry), settings read once from the environment
(settings), observability, idempotency, domain errors, the clock, AWS resources.

Written once here and shipped as a Lambda layer, so each service's handler is a table of its
actions and nothing else.
"""
