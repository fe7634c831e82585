"""The upload window and the bandwidth timetable (schedule.py)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from circadian_scp_upload.config.schedule import BandwidthSchedule, UploadWindow, parse_rate
from circadian_scp_upload.errors import ConfigError


def at(hour: int, minute: int = 0, weekday: int = 0) -> datetime.datetime:
    return datetime.datetime(2024, 9, 16 + weekday, hour, minute)  # 2024-09-16 is a Monday


def test_a_window_across_midnight_and_several_spans() -> None:
    night = UploadWindow.parse("22:00-06:00")
    assert night.is_open(at(23)) and night.is_open(at(5, 59))  # noqa: PT018
    assert not night.is_open(at(6)) and not night.is_open(at(12))  # noqa: PT018
    two = UploadWindow.parse("06:00-08:00, 12:30:15-13:00")
    assert two.is_open(at(7)) and two.is_open(at(12, 45))  # noqa: PT018
    assert not two.is_open(at(9))


@pytest.mark.parametrize("bad", ["22:00", "25:00-01:00", "10:00-10:00", "x-y"])
def test_a_bad_window_names_the_problem(bad: str) -> None:
    with pytest.raises(ConfigError, match="CSU_UPLOAD_WINDOW"):
        UploadWindow.parse(bad)


def test_rates_in_rclones_units() -> None:
    assert parse_rate("512") == 512 * 1024
    assert parse_rate("512k") == parse_rate("512K") == 512 * 1024
    assert parse_rate("1.5M") == int(1.5 * 1024 * 1024)
    assert parse_rate("100B") == 100
    assert parse_rate("off") == 0
    assert parse_rate("10M:100k") == 10 * 1024 * 1024  # upload:download, upload counts
    with pytest.raises(ConfigError, match="not a rate"):
        parse_rate("fast")


def test_a_daily_timetable_cycles_through_midnight() -> None:
    table = BandwidthSchedule.parse("08:00,512k 19:00,off")
    assert table.rate_at(at(9)) == 512 * 1024
    assert table.rate_at(at(20)) == 0
    assert table.rate_at(at(3)) == 0  # still the 19:00 entry, from the day before
    assert BandwidthSchedule.parse("1M").rate_at(at(3)) == 1024 * 1024


def test_a_weekly_timetable() -> None:
    table = BandwidthSchedule.parse("Mon-08:00,256k Sat-00:00,off")
    assert table.rate_at(at(9, weekday=2)) == 256 * 1024  # Wednesday
    assert table.rate_at(at(9, weekday=6)) == 0  # Sunday
    assert table.rate_at(at(7, weekday=0)) == 0  # Monday before eight: still Saturday's
    mixed = BandwidthSchedule.parse("Mon-08:00,256k 19:00,off")  # 19:00 on every day
    assert mixed.rate_at(at(9, weekday=0)) == 256 * 1024
    assert mixed.rate_at(at(20, weekday=3)) == 0
    assert mixed.rate_at(at(9, weekday=3)) == 0  # Thursday: Wednesday's 19:00 still
    assert BandwidthSchedule.parse("Monday-08:00,1M").rate_at(at(9)) == 1024 * 1024
    with pytest.raises(ConfigError, match="not a day name"):
        BandwidthSchedule.parse("Mongolia-08:00,1M")


def test_a_short_window_is_found_to_the_second() -> None:
    """A window shorter than the sun's sampling step opens and closes exactly at its
    edges (a one-minute window is not "closed for a week")."""
    zone = datetime.timezone.utc
    window = UploadWindow.parse("23:10:00-23:11:03")
    moment = datetime.datetime(2026, 12, 4, 23, 0, 30, tzinfo=zone)
    assert not window.never_opens(moment)
    opens = window.next_change(moment)
    assert opens == datetime.datetime(2026, 12, 4, 23, 10, 0, tzinfo=zone)
    assert window.next_change(opens) == datetime.datetime(2026, 12, 4, 23, 11, 3, tzinfo=zone)
    later = datetime.datetime(2026, 12, 4, 23, 12, tzinfo=zone)  # opens again tomorrow
    assert window.next_change(later) == datetime.datetime(2026, 12, 5, 23, 10, tzinfo=zone)


def test_a_daylight_saving_change_neither_skips_nor_doubles_an_edge() -> None:
    """The search steps through real time: in spring an edge inside the missing hour
    opens the window when the clocks jump; in autumn the repeated hour is open twice."""
    zone = ZoneInfo("Europe/Berlin")
    utc = datetime.timezone.utc
    spring = UploadWindow.parse("02:30-04:00")
    before = datetime.datetime(2026, 3, 29, 1, 0, tzinfo=zone)
    opens = spring.next_change(before)
    assert opens is not None
    assert opens.astimezone(utc) == datetime.datetime(2026, 3, 29, 1, 0, tzinfo=utc)  # 03:00 CEST
    closes = spring.next_change(opens)
    assert closes is not None
    assert closes.astimezone(utc) == datetime.datetime(2026, 3, 29, 2, 0, tzinfo=utc)  # 04:00
    autumn = UploadWindow.parse("01:00-02:30")
    night = datetime.datetime(2026, 10, 25, 0, 30, tzinfo=zone)
    changes = []
    moment = night
    for _ in range(4):
        found = autumn.next_change(moment)
        assert found is not None
        changes.append(found.astimezone(utc).strftime("%H:%M"))
        moment = found
    # 01:00 CEST opens, 02:30 CEST closes, 02:00 CET opens again, 02:30 CET closes
    assert changes == ["23:00", "00:30", "01:00", "01:30"]


def test_a_short_window_inside_the_repeated_hour_is_found_both_times() -> None:
    """02:10-02:13 comes twice on the night the clocks go back (CEST, then CET): from
    midnight the search finds both, each to the second."""
    zone = ZoneInfo("Europe/Berlin")
    utc = datetime.timezone.utc
    window = UploadWindow.parse("02:10-02:13")
    moment = datetime.datetime(2026, 10, 25, 0, 0, tzinfo=zone)
    found = []
    for _ in range(4):
        change = window.next_change(moment)
        assert change is not None
        found.append(change.astimezone(utc).strftime("%H:%M:%S"))
        moment = change
    assert found == ["00:10:00", "00:13:00", "01:10:00", "01:13:00"]
