"""What every saga function shares: observability, idempotency, domain errors, AWS resources.

Written once here and shipped as a Lambda layer, so each service's handler is a table of its
actions and nothing else.
"""
