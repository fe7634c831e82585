"""Traffic shaping for metered links: an upload window and a bandwidth timetable.

Both are read in the station's time zone.

- ``UploadWindow``: ``22:00-06:00`` (across midnight), several separated by commas,
  ``HH:MM`` or ``HH:MM:SS``; by the sun at the station's place (``CSU_LATITUDE``,
  ``CSU_LONGITUDE``; astral computes its elevation): ``night`` (the sun below the
  horizon, as almanacs time sunset and sunrise), ``day``, ``sun<-6`` (civil twilight and
  darker), ``sun>10``; conditions joined by ``&`` must all hold (``night&22:00-06:00``).
  Outside it no pass starts, and a running pass stops at the next file boundary.
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

from astral import Observer
from astral.sun import elevation

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


# The sun's centre this far below the horizon, geometrically: sunrise and sunset as
# almanacs give them (the upper limb on the horizon, standard refraction).
HORIZON_DEGREES = -0.833
SCAN_STEP = datetime.timedelta(minutes=5)
NEVER_OPEN_SCAN = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Place:
    """Where the station is, for windows by the sun (degrees; north and east positive)."""

    latitude: float
    longitude: float

    def sun_elevation(self, moment: datetime.datetime) -> float:
        """Return the sun's geometric elevation (degrees, no refraction) at ``moment``."""
        observer = Observer(latitude=self.latitude, longitude=self.longitude)
        return float(elevation(observer, moment, with_refraction=False))


@dataclass(frozen=True)
class Condition:
    """One part of a window: a clock span (``first``-``last`` seconds into the day, the
    end may come before the start), or the sun below or above an elevation."""

    first: int = 0
    last: int = 0
    below: float | None = None
    above: float | None = None

    def holds(self, moment: datetime.datetime, place: Place | None) -> bool:
        """Return whether the condition holds at ``moment`` (in the station's zone)."""
        if self.below is not None or self.above is not None:
            assert place is not None  # parse refuses sun terms without a place
            height = place.sun_elevation(moment)
            if self.below is not None:
                return height < self.below
            return height >= self.above  # type: ignore[operator]
        now = _since_midnight(moment)
        if self.first < self.last:
            return self.first <= now < self.last
        return now >= self.first or now < self.last


def _condition(text: str, place: Place | None) -> Condition:
    """Parse one term: ``22:00-06:00``, ``night``, ``day``, ``sun<-6``, ``sun>10``."""
    word = text.strip().lower().replace(" ", "")
    if word in ("night", "day") or word.startswith("sun"):
        if place is None:
            raise ConfigError(
                f"CSU_UPLOAD_WINDOW: {text.strip()!r} depends on the sun: give the station's "
                "place, CSU_LATITUDE and CSU_LONGITUDE (degrees, north and east positive)"
            )
        if word == "night":
            return Condition(below=HORIZON_DEGREES)
        if word == "day":
            return Condition(above=HORIZON_DEGREES)
        match = re.fullmatch(r"sun([<>])(-?\d+(?:\.\d+)?)", word)
        if match is None or not -90 <= float(match[2]) <= 90:
            raise ConfigError(
                f"CSU_UPLOAD_WINDOW: {text.strip()!r} is not a sun condition: write sun<-6 "
                "(the sun's centre more than 6 degrees below the horizon) or sun>10"
            )
        degrees = float(match[2])
        return Condition(below=degrees) if match[1] == "<" else Condition(above=degrees)
    start, sep, end = text.strip().partition("-")
    if not sep:
        raise ConfigError(
            f"CSU_UPLOAD_WINDOW: {text.strip()!r} is not a span: write it as start-end, such "
            "as 22:00-06:00, or night, day, sun<-6"
        )
    first = _seconds(start, "CSU_UPLOAD_WINDOW")
    last = _seconds(end, "CSU_UPLOAD_WINDOW")
    if first == last:
        raise ConfigError(f"CSU_UPLOAD_WINDOW: {text.strip()!r} is empty")
    return Condition(first, last)


@dataclass(frozen=True)
class UploadWindow:
    """When passes may run: any of several terms (commas), each all of its conditions
    (``&``): clock spans, ``night``, ``day``, ``sun<X``, ``sun>X``."""

    terms: tuple[tuple[Condition, ...], ...]
    text: str
    place: Place | None = None

    @classmethod
    def parse(cls, text: str, place: Place | None = None) -> UploadWindow:
        """Parse ``22:00-06:00``, ``night``, ``sun<-6``, ``night&22:00-06:00,sun<-12``;
        raise ConfigError naming the problem."""
        terms = []
        for alternative in text.split(","):
            if not alternative.strip():
                raise ConfigError(f"CSU_UPLOAD_WINDOW: an empty term in {text!r}")
            terms.append(tuple(_condition(part, place) for part in alternative.split("&")))
        return cls(tuple(terms), text.strip(), place)

    @property
    def by_the_sun(self) -> bool:
        """Whether any term depends on the sun."""
        return any(c.below is not None or c.above is not None for t in self.terms for c in t)

    def is_open(self, moment: datetime.datetime) -> bool:
        """Return whether ``moment`` (in the station's zone) is inside the window."""
        return any(all(c.holds(moment, self.place) for c in term) for term in self.terms)

    def next_change(
        self, moment: datetime.datetime, within: datetime.timedelta = NEVER_OPEN_SCAN
    ) -> datetime.datetime | None:
        """Return when the window next opens (if closed at ``moment``, an aware time in
        the station's zone) or closes (if open), to the second and in that zone, or None
        if that does not happen ``within``. Clock spans change exactly at their edges; the
        sun is sampled every ``SCAN_STEP`` (an opening shorter than that, only by the
        sun, may be missed). The search steps through real time (UTC): a daylight-saving
        change neither skips an edge nor counts an hour twice."""
        zone = moment.tzinfo

        def open_at(instant: datetime.datetime) -> bool:
            return self.is_open(instant.astimezone(zone))

        here = moment.astimezone(datetime.timezone.utc)
        state = open_at(here)
        for step in self._samples(moment, within):
            if open_at(step) != state:
                low, high = here, step  # narrow it to the second
                while high - low > datetime.timedelta(seconds=1):
                    middle = low + (high - low) / 2
                    if open_at(middle) != state:
                        high = middle
                    else:
                        low = middle
                if high.microsecond:
                    high = high.replace(microsecond=0) + datetime.timedelta(seconds=1)
                return high.astimezone(zone)
            here = step
        return None

    def _samples(
        self, moment: datetime.datetime, within: datetime.timedelta
    ) -> list[datetime.datetime]:
        """The instants (UTC) after ``moment`` (up to ``within``) at which to look: every
        ``SCAN_STEP`` of real time, and every edge of every clock span on each local day,
        twice where the clocks go back and it comes twice (an edge inside a spring gap
        maps to an instant near it; the search narrows the change down from there)."""
        start = moment.astimezone(datetime.timezone.utc)
        end = start + within
        found = set()
        here = start + SCAN_STEP
        while here <= end:
            found.add(here)
            here += SCAN_STEP
        edges = {c.first for t in self.terms for c in t if c.below is None and c.above is None}
        edges |= {c.last for t in self.terms for c in t if c.below is None and c.above is None}
        local_end = end.astimezone(moment.tzinfo)
        day = moment.date() - datetime.timedelta(days=1)
        while day <= local_end.date():
            for seconds in edges:
                hours, rest = divmod(seconds, 3600)
                wall = datetime.datetime.combine(
                    day, datetime.time(hours % 24, rest // 60, rest % 60), tzinfo=moment.tzinfo
                )
                if seconds >= 86400:
                    wall += datetime.timedelta(days=1)
                for fold in (0, 1):  # both, where the clocks go back and the hour repeats
                    edge = wall.replace(fold=fold).astimezone(datetime.timezone.utc)
                    if start < edge <= end:
                        found.add(edge)
            day += datetime.timedelta(days=1)
        return sorted(found)

    def never_opens(self, moment: datetime.datetime) -> bool:
        """Return whether the window stays shut for the next week (polar day or night)."""
        return not self.is_open(moment) and self.next_change(moment) is None


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
