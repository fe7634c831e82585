"""When a day is ready: its date is over, plus a grace period, in the station's time zone.

Time comes in through a ``Clock`` (a function returning an aware datetime), so tests
can move it at will instead of waiting for midnight.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

Clock = Callable[[], datetime.datetime]
DEFAULT_GRACE_PERIOD = datetime.timedelta(hours=1)


def system_clock() -> datetime.datetime:
    """Return the current time, aware, in the machine's local time zone."""
    return datetime.datetime.now().astimezone()


def resolve_timezone(timezone: str | datetime.tzinfo | None) -> datetime.tzinfo | None:
    """Given an IANA name, a tzinfo or None (local time), return a tzinfo or None.

    Raises ``ConfigError`` for a name the time zone database does not know.
    """
    if timezone is None or isinstance(timezone, datetime.tzinfo):
        return timezone
    if timezone.strip().lower() in ("", "local"):
        return None
    try:
        return ZoneInfo(timezone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {timezone!r}: use an IANA name such as 'Europe/Berlin' "
            "or 'UTC', or 'local' for the machine's time zone"
        ) from None


def ready_at(
    day: datetime.date, grace: datetime.timedelta, timezone: datetime.tzinfo | None
) -> datetime.datetime:
    """Given a day, a grace period and a zone (None: local), return when it becomes ready."""
    midnight = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time())
    if timezone is None:
        return midnight.astimezone() + grace
    return midnight.replace(tzinfo=timezone) + grace


def is_ready(
    day: datetime.date,
    now: datetime.datetime,
    grace: datetime.timedelta = DEFAULT_GRACE_PERIOD,
    timezone: datetime.tzinfo | None = None,
) -> bool:
    """Given a day and the current aware time, return whether that day may be uploaded."""
    return now >= ready_at(day, grace, timezone)
