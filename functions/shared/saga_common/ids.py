"""Ids derived from what they identify, so a replayed step finds what it wrote the first time."""

import hashlib


def derived_id(prefix: str, *parts: str) -> str:
    """`<prefix>_` + 26 hex chars of the SHA-256 of `parts`.

    A step that writes "the invoice of order X" names it from X: a retry, a replay after the
    idempotency record expired, or a concurrent duplicate all land on the same item.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}_{digest[:26]}"
