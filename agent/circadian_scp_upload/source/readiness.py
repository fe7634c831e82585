"""When a day is ready: its date is over, plus a grace period, in the station's time zone.

The station's zone is an IANA zone, always: ``CSU_TIMEZONE`` (or ``timezone=``), else the
container conventions, ``TZ`` and a mounted ``/etc/localtime``, else UTC, said loudly.
"Day end plus grace" is computed in absolute time: the first instant of the next day in
that zone, plus the grace period as elapsed time, so a night whose clocks jump at
midnight (Santiago, Havana, the Azores) still gets its whole grace period.

Time comes in through a ``Clock`` (a function returning an aware datetime), so tests
can move it at will instead of waiting for midnight.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError

Clock = Callable[[], datetime.datetime]
DEFAULT_GRACE_PERIOD = datetime.timedelta(hours=1)
UTC = datetime.timezone.utc
LOCALTIME = Path("/etc/localtime")
ZONEINFO_MARK = "zoneinfo/"
TZPATH_ROOTS = zoneinfo.TZPATH


def system_clock() -> datetime.datetime:
    """Return the current time, aware (UTC)."""
    return datetime.datetime.now(UTC)


@dataclass(frozen=True)
class StationZone:
    """The zone days are counted in, and where that choice came from (for the log)."""

    zone: datetime.tzinfo
    name: str
    source: str
    defaulted: bool = False

    def describe(self) -> str:
        """Return one line naming the zone and its source."""
        return f"{self.name} (from {self.source})"


def named_zone(name: str, source: str) -> ZoneInfo:
    """Given an IANA zone name, return it; raise ConfigError naming ``source`` otherwise."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{source}: unknown time zone {name!r}: use an IANA name such as "
            "'Europe/Berlin' or 'UTC', or 'local' for the machine's time zone"
        ) from None


def station_zone(
    setting: str | datetime.tzinfo | None,
    environ: Mapping[str, str] | None = None,
    localtime: Path | None = None,
) -> StationZone:
    """Given the setting (a tzinfo, an IANA name, or None/"local"), return the zone.

    "local" means, in order: ``TZ`` (an IANA name, ``:`` prefix allowed), a mounted
    ``/etc/localtime`` (named by its link, or read as a zone file), else UTC (``defaulted``:
    the caller should say so loudly).
    """
    if isinstance(setting, datetime.tzinfo):
        return StationZone(setting, str(setting), "the caller")
    if setting is not None and setting.strip().lower() not in ("", "local"):
        return StationZone(named_zone(setting, "CSU_TIMEZONE"), setting.strip(), "CSU_TIMEZONE")
    env = os.environ if environ is None else environ
    tz = env.get("TZ", "").strip().lstrip(":")
    if tz:
        return StationZone(named_zone(tz, "TZ"), tz, "TZ")
    found = _localtime_zone(LOCALTIME if localtime is None else localtime)
    if found is not None:
        return found
    return StationZone(UTC, "UTC", "nothing: no CSU_TIMEZONE, TZ or /etc/localtime", True)


UTC_NAMES = {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal"}


def _localtime_zone(localtime: Path) -> StationZone | None:
    """Return the zone of ``/etc/localtime``, or None if there is none.

    The zone is read from the file's content (a host's zone file mounted over an image's
    link changes the content, not the link); it is named after the link or
    ``/etc/timezone`` only where their zone has that very content. Images ship UTC there:
    UTC found this way counts as no zone given (the caller says so loudly).
    """
    try:
        content = localtime.read_bytes()
        zone = ZoneInfo.from_file(io.BytesIO(content), key=str(localtime))
    except (OSError, ValueError):
        return None
    names = []
    with contextlib.suppress(OSError):
        target = os.readlink(localtime)
        if ZONEINFO_MARK in target:
            names.append(target.split(ZONEINFO_MARK, 1)[1])
    names.append(_timezone_file_name(localtime.parent / "timezone") or "")
    name = next((n for n in names if n and _zone_bytes(n) == content), "")
    if name in UTC_NAMES or (not name and _zone_bytes("UTC") == content):
        return StationZone(UTC, "UTC", f"{localtime}, as images ship it", True)
    if name:
        return StationZone(ZoneInfo(name), name, str(localtime))
    return StationZone(zone, f"the zone in {localtime}", str(localtime))


def _timezone_file_name(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _zone_bytes(name: str) -> bytes | None:
    """Return the content of a named zone's file in the system's database, if any."""
    for root in TZPATH_ROOTS:
        with contextlib.suppress(OSError, ValueError):
            return (Path(root) / name).read_bytes()
    return None


def resolve_timezone(timezone: str | datetime.tzinfo | None) -> datetime.tzinfo:
    """Given an IANA name, a tzinfo, or None/"local" (the station's zone), return a tzinfo.

    Raises ``ConfigError`` for a name the time zone database does not know.
    """
    return station_zone(timezone).zone


def day_start(day: datetime.date, zone: datetime.tzinfo) -> datetime.datetime:
    """Return the first instant of ``day`` in ``zone``, in UTC.

    Where midnight does not exist (clocks jump from 00:00 to 01:00), the instant that
    local midnight would have been, before the jump, is the day's start: the same as
    01:00 after it.
    """
    midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=zone)
    return midnight.astimezone(UTC)


def ready_at(
    day: datetime.date, grace: datetime.timedelta, zone: datetime.tzinfo
) -> datetime.datetime:
    """Given a day, a grace period and a zone, return when it becomes ready (UTC)."""
    return day_start(day + datetime.timedelta(days=1), zone) + grace


def is_ready(
    day: datetime.date,
    now: datetime.datetime,
    grace: datetime.timedelta = DEFAULT_GRACE_PERIOD,
    timezone: datetime.tzinfo = UTC,
) -> bool:
    """Given a day and the current aware time, return whether that day may be uploaded."""
    return now >= ready_at(day, grace, timezone)


def today(now: datetime.datetime, zone: datetime.tzinfo) -> datetime.date:
    """Return the station's date at ``now``."""
    return now.astimezone(zone).date()
