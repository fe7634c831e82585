"""Traffic shaping for metered links: an upload window and a bandwidth timetable.

Both are read in the station's time zone.

- ``UploadWindow``: ``22:00-06:00`` (across midnight), several separated by commas,
  ``HH:MM`` or ``HH:MM:SS``. Outside it no pass starts, and a running pass stops at the
  next file boundary.
- ``BandwidthSchedule``: rclone's ``--bwlimit`` timetable: ``"08:00,512k 19:00,off"``,
  weekly with day names (``"Mon-08:00,1M Sat-00:00,off"``), or one rate for all times
  (``"512k"``). Rates are KiB/s unless suffixed ``B``, ``K``, ``M``, ``G`` (binary
  multiples); ``off`` is unlimited; of rclone's ``upload:download`` pairs the upload
  rate counts. At any time the entry last reached, cyclically, applies.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from ..errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAYS = dict(
    zip(
        DAYS,
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
        strict=True,
    )
)
UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
SECONDS_A_DAY = 24 * 3600


def _seconds(text: str, what: str) -> int:
    """Given ``HH:MM[:SS]``, return seconds into the day; raise ConfigError naming ``what``."""
    match = TIME.match(text.strip())
    if match is None or int(match[1]) > 24 or int(match[2]) > 59 or int(match[3] or 0) > 59:
        raise ConfigError(f"{what}: {text!r} is not a time of day (HH:MM or HH:MM:SS)")
    seconds = int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3] or 0)
    if seconds > SECONDS_A_DAY:
        raise ConfigError(f"{what}: {text!r} is past the end of the day")
    return seconds


def _since_midnight(moment: datetime.datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


@dataclass(frozen=True)
class UploadWindow:
    """When passes may run: (start, end) seconds into the day, end may be before start."""

    spans: tuple[tuple[int, int], ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> UploadWindow:
        """Parse ``22:00-06:00[,HH:MM-HH:MM...]``; raise ConfigError naming the problem."""
        spans = []
        for part in text.split(","):
            start, sep, end = part.strip().partition("-")
            if not sep:
                raise ConfigError(
                    f"CSU_UPLOAD_WINDOW: {part.strip()!r} is not a span: write it as "
                    "start-end, such as 22:00-06:00"
                )
            first = _seconds(start, "CSU_UPLOAD_WINDOW")
            last = _seconds(end, "CSU_UPLOAD_WINDOW")
            if first == last:
                raise ConfigError(f"CSU_UPLOAD_WINDOW: {part.strip()!r} is empty")
            spans.append((first, last))
        return cls(tuple(spans), text.strip())

    def is_open(self, moment: datetime.datetime) -> bool:
        """Return whether ``moment`` (in the station's zone) is inside the window."""
        now = _since_midnight(moment)
        for first, last in self.spans:
            inside = first <= now < last if first < last else now >= first or now < last
            if inside:
                return True
        return False


@dataclass(frozen=True)
class BandwidthSchedule:
    """Rates (bytes/s, 0: unlimited) from points in the week (or the day) on."""

    points: tuple[tuple[int, int], ...]  # (seconds into the week or day, rate), sorted
    weekly: bool
    text: str

    @classmethod
    def parse(cls, text: str) -> BandwidthSchedule:
        """Parse rclone's timetable; raise ConfigError naming the entry that is wrong."""
        entries = text.split()
        if len(entries) == 1 and "," not in entries[0]:
            return cls(((0, parse_rate(entries[0])),), False, text.strip())
        parsed: list[tuple[int | None, int, int]] = []  # (day or None, seconds, rate)
        for entry in entries:
            when, sep, rate_text = entry.partition(",")
            if not sep:
                raise ConfigError(
                    f"CSU_BANDWIDTH_SCHEDULE: {entry!r} is not TIME,RATE (such as 08:00,512k)"
                )
            day_name, dash, clock = when.rpartition("-") if "-" in when else ("", "", when)
            weekday = None
            if dash:
                name = day_name.lower()
                if name[:3] not in DAYS or name not in (name[:3], FULL_DAYS[name[:3]]):
                    raise ConfigError(f"CSU_BANDWIDTH_SCHEDULE: {day_name!r} is not a day name")
                weekday = DAYS.index(name[:3])
            at = _seconds(clock, "CSU_BANDWIDTH_SCHEDULE")
            parsed.append((weekday, at, parse_rate(rate_text)))
        weekly = any(weekday is not None for weekday, _at, _rate in parsed)
        points: list[tuple[int, int]] = []
        for weekday, at, rate in parsed:
            # as in rclone: in a weekly table, an entry without a day applies to every day
            days = [weekday] if weekday is not None else (range(7) if weekly else [0])
            points += [(day * SECONDS_A_DAY + at, rate) for day in days]
        return cls(tuple(sorted(points)), bool(weekly), text.strip())

    def rate_at(self, moment: datetime.datetime) -> int:
        """Return the rate in bytes/s at ``moment`` (in the station's zone; 0: no limit)."""
        now = _since_midnight(moment)
        if self.weekly:
            now += moment.weekday() * SECONDS_A_DAY
        reached = [rate for at, rate in self.points if at <= now]
        return reached[-1] if reached else self.points[-1][1]  # from the cycle before


def parse_rate(text: str) -> int:
    """Given ``512``, ``512k``, ``1.5M``, ``off`` or ``10M:100k``, return bytes/s (0: off)."""
    upload = text.strip().split(":")[0].lower()
    if upload in ("off", "0", ""):
        return 0
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([bkmgt]?)(?:i?b)?(?:/s)?", upload)
    if match is None:
        raise ConfigError(
            f"CSU_BANDWIDTH_SCHEDULE: {text!r} is not a rate: give KiB/s, or a number with "
            "B, K, M or G (such as 512k or 1.5M), or off"
        )
    return int(float(match[1]) * UNITS[match[2] or "k"])
