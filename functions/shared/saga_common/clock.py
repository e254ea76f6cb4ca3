"""The one timestamp format of the saga: ISO 8601 in UTC, milliseconds, `Z` (2026-11-25T09:14:03.512Z).

Every record and every order view carries times in this form, so they sort as strings and read the same
everywhere.
"""

from datetime import UTC, datetime


def now() -> str:
    """The current time, e.g. "2026-11-25T09:14:03.512Z"."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
