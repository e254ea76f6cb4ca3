"""The one timestamp format of the saga: ISO 8601 in UTC, milliseconds, `Z` (2026-11-25T09:14:03.512Z).

Every record and every order view carries times in this form, so they sort as strings and read the same
everywhere.
"""

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """`moment` in the saga's format, e.g. "2026-11-25T09:14:03.512Z" (an aware datetime, in any time zone)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> str:
    """The current time in the saga's format."""
    return iso(datetime.now(UTC))
