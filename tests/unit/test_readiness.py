"""When a day is ready: over, plus the grace period, in the configured zone."""

from __future__ import annotations

import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circadian_scp_upload import ConfigError
from circadian_scp_upload.source.readiness import (
    UTC,
    StationZone,
    day_start,
    is_ready,
    ready_at,
    resolve_timezone,
    station_zone,
)

BERLIN = ZoneInfo("Europe/Berlin")
DAY = datetime.date(2024, 9, 17)
HOUR = datetime.timedelta(hours=1)


def at(
    hour: int, minute: int = 0, day: int = 18, zone: datetime.tzinfo = BERLIN
) -> datetime.datetime:
    return datetime.datetime(2024, 9, day, hour, minute, tzinfo=zone)


def test_not_ready_during_the_day_or_before_the_grace_ends() -> None:
    assert not is_ready(DAY, at(12, day=17), HOUR, BERLIN)
    assert not is_ready(DAY, at(0, 59), HOUR, BERLIN)


def test_ready_from_one_hour_into_the_next_day() -> None:
    assert is_ready(DAY, at(1, 0), HOUR, BERLIN)
    assert is_ready(DAY, at(13, 0), HOUR, BERLIN)


def test_time_zone_decides_midnight() -> None:
    # 00:30 UTC on the 18th is 02:30 in Berlin: ready there, not in UTC.
    now = datetime.datetime(2024, 9, 18, 0, 30, tzinfo=datetime.timezone.utc)
    assert is_ready(DAY, now, HOUR, BERLIN)
    assert not is_ready(DAY, now, HOUR, datetime.timezone.utc)


def test_grace_can_be_zero_or_long() -> None:
    assert is_ready(DAY, at(0, 0), datetime.timedelta(0), BERLIN)
    assert not is_ready(DAY, at(5, 59), datetime.timedelta(hours=6), BERLIN)


def test_daylight_saving_night_uses_wall_clock() -> None:
    # 2024-10-27 has 25 hours in Berlin; its next day starts at 00:00 local all the same.
    assert ready_at(datetime.date(2024, 10, 26), HOUR, BERLIN) == datetime.datetime(
        2024, 10, 27, 1, 0, tzinfo=BERLIN
    )


def test_resolves_zone_names() -> None:
    assert resolve_timezone("Europe/Berlin") == BERLIN
    with pytest.raises(ConfigError, match="IANA"):
        resolve_timezone("Mars/Olympus")


def test_local_means_tz_then_etc_localtime_then_utc_said_loudly(tmp_path: Path) -> None:
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/America/Denver")
    absent = tmp_path / "absent"
    assert station_zone("local", {"TZ": ":Asia/Tokyo"}, link) == StationZone(
        ZoneInfo("Asia/Tokyo"), "Asia/Tokyo", "TZ"
    )
    assert station_zone("local", {}, link) == StationZone(
        ZoneInfo("America/Denver"), "America/Denver", str(link)
    )
    copied = tmp_path / "copied" / "localtime"
    copied.parent.mkdir()
    copied.write_bytes(Path("/usr/share/zoneinfo/Europe/Berlin").read_bytes())
    (copied.parent / "timezone").write_text("Europe/Berlin\n")
    found = station_zone(None, {}, copied)
    assert found.name == "Europe/Berlin"
    assert found.zone.utcoffset(datetime.datetime(2024, 7, 1)) == datetime.timedelta(hours=2)
    fallback = station_zone("local", {}, absent)
    assert (fallback.zone, fallback.defaulted) == (datetime.timezone.utc, True)
    assert station_zone("UTC", {"TZ": "Asia/Tokyo"}, link).name == "UTC"  # explicit wins
    with pytest.raises(ConfigError, match="TZ: unknown time zone"):
        station_zone("local", {"TZ": "Nowhere/Else"}, absent)


def test_denver_uploads_day_d_only_after_it_ends_there() -> None:
    denver = ZoneInfo("America/Denver")
    # 02:00 UTC on the 18th is still the evening of the 17th in Denver (UTC-6)
    assert not is_ready(DAY, datetime.datetime(2024, 9, 18, 2, 0, tzinfo=UTC), HOUR, denver)
    assert ready_at(DAY, HOUR, denver) == datetime.datetime(2024, 9, 18, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "night"),
    [
        ("America/Santiago", datetime.date(2024, 9, 8)),  # 00:00 jumps to 01:00
        ("America/Havana", datetime.date(2024, 3, 10)),  # 00:00 jumps to 01:00
        ("Atlantic/Azores", datetime.date(2024, 3, 31)),  # 00:00 jumps to 01:00
    ],
)
def test_a_night_whose_clocks_jump_at_midnight_keeps_its_whole_grace(
    zone: str, night: datetime.date
) -> None:
    tz = ZoneInfo(zone)
    day = night - datetime.timedelta(days=1)
    start = day_start(night, tz)
    assert start.astimezone(tz).hour == 1  # the first instant of the day is 01:00 local
    assert ready_at(day, HOUR, tz) - start == HOUR  # an hour of elapsed time, not of wall
    assert not is_ready(day, start + datetime.timedelta(minutes=59), HOUR, tz)


@given(
    day=st.dates(min_value=datetime.date(2001, 1, 1), max_value=datetime.date(2098, 1, 1)),
    minutes=st.integers(min_value=0, max_value=3 * 24 * 60),
)
def test_ready_exactly_from_midnight_plus_grace(day: datetime.date, minutes: int) -> None:
    now = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.timezone.utc)
    now += datetime.timedelta(minutes=minutes)
    expected = minutes >= 24 * 60 + 60
    assert is_ready(day, now, HOUR, datetime.timezone.utc) is expected


def test_an_images_utc_and_a_host_zone_mounted_over_its_link(tmp_path: Path) -> None:
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Etc/UTC")  # as python:3.12-slim ships it
    found = station_zone("local", {}, link)
    assert found.defaulted  # counts as no zone given: said loudly
    mounted = tmp_path / "mounted" / "localtime"  # -v /etc/localtime:/etc/localtime:ro
    mounted.parent.mkdir()
    mounted.write_bytes(Path("/usr/share/zoneinfo/America/Denver").read_bytes())
    found = station_zone("local", {}, mounted)
    assert not found.defaulted
    assert found.zone.utcoffset(datetime.datetime(2024, 1, 1)) == datetime.timedelta(hours=-7)
