"""Upload windows by the sun (config/schedule.py), against published sunrise and sunset
times at the equator, at mid-latitudes in both hemispheres, and in both polar regions.

Sources (published local clock times; a different year moves them by a minute or so,
hence the tolerance):
- Singapore, 1.35 N: earliest sunrise 06:46 around 1 November, latest sunset 19:21
  around 13 February (H. Aslaksen, National University of Singapore, "Which Day Does
  the Sun Rise Earliest in Singapore?").
- Decorah, Iowa, 43.30 N: 1 September sunrise 6:32, sunset 7:41 pm, civil twilight
  6:02 to 8:11 pm; 30 September sunrise 7:04, sunset 6:49 pm (Luther College weather
  station, September sunrise/sunset table after the U.S. Naval Observatory).
- Chichester, 50.84 N: 21 December 2021 sunrise 8:03, sunset 3:59 pm (Chichester
  Observer, "hours of daylight on the winter solstice").
- Sydney, 33.87 S: 1 June sunrise 06:52, sunset 16:55; 1 January sunrise 05:48, sunset
  20:10 (whattime.city, Sydney sun table).
- Longyearbyen, 78.2 N: midnight sun from about 19 April to 23 August, polar night from
  26 October to mid-February (Svalbard sun events, Longyearbyen Lokalstyre); McMurdo,
  77.8 S: the same half a year apart.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from circadian_scp_upload.config.schedule import Place, UploadWindow
from circadian_scp_upload.errors import ConfigError

TOLERANCE = datetime.timedelta(minutes=3)

# (place, zone, date, "sunrise"/"sunset"/"civil dawn"/"civil dusk", published HH:MM)
PUBLISHED = [
    ("singapore", 1.3521, 103.8198, "Asia/Singapore", "2024-11-01", "sunrise", "06:46"),
    ("singapore", 1.3521, 103.8198, "Asia/Singapore", "2024-02-13", "sunset", "19:21"),
    ("decorah", 43.3033, -91.7857, "America/Chicago", "2024-09-01", "sunrise", "06:32"),
    ("decorah", 43.3033, -91.7857, "America/Chicago", "2024-09-01", "sunset", "19:41"),
    ("decorah", 43.3033, -91.7857, "America/Chicago", "2024-09-01", "civil dawn", "06:02"),
    ("decorah", 43.3033, -91.7857, "America/Chicago", "2024-09-01", "civil dusk", "20:11"),
    ("decorah", 43.3033, -91.7857, "America/Chicago", "2024-09-30", "sunrise", "07:04"),
    ("decorah", 43.3033, -91.7857, "America/Chicago", "2024-09-30", "sunset", "18:49"),
    ("chichester", 50.8365, -0.7792, "Europe/London", "2021-12-21", "sunrise", "08:03"),
    ("chichester", 50.8365, -0.7792, "Europe/London", "2021-12-21", "sunset", "15:59"),
    ("sydney", -33.8688, 151.2093, "Australia/Sydney", "2024-06-01", "sunrise", "06:52"),
    ("sydney", -33.8688, 151.2093, "Australia/Sydney", "2024-06-01", "sunset", "16:55"),
    ("sydney", -33.8688, 151.2093, "Australia/Sydney", "2025-01-01", "sunrise", "05:48"),
    ("sydney", -33.8688, 151.2093, "Australia/Sydney", "2025-01-01", "sunset", "20:10"),
]


@pytest.mark.parametrize(
    ("latitude", "longitude", "zone", "date", "event", "published"),
    [row[1:] for row in PUBLISHED],
    ids=[f"{row[0]}-{row[4]}-{row[5]}" for row in PUBLISHED],
)
def test_night_and_twilight_change_when_the_almanac_says(
    latitude: float, longitude: float, zone: str, date: str, event: str, published: str
) -> None:
    place = Place(latitude, longitude)
    text = "sun<-6" if event.startswith("civil") else "night"
    window = UploadWindow.parse(text, place)
    midnight = datetime.datetime.fromisoformat(f"{date}T00:00").replace(tzinfo=ZoneInfo(zone))
    assert window.is_open(midnight)  # dark at midnight, at every place of the table
    closes = window.next_change(midnight)  # morning: the sun rises (or dawn begins)
    assert closes is not None
    opens = window.next_change(closes)  # evening: the sun sets (or dusk ends)
    assert opens is not None
    found = closes if event in ("sunrise", "civil dawn") else opens
    wanted = datetime.datetime.fromisoformat(f"{date}T{published}").replace(tzinfo=ZoneInfo(zone))
    assert abs(found - wanted) <= TOLERANCE, f"{event} {found:%H:%M}, published {published}"


@pytest.mark.parametrize(
    ("latitude", "longitude", "zone", "date", "shut"),
    [
        (78.2232, 15.6267, "Arctic/Longyearbyen", "2024-06-21", "night"),  # midnight sun
        (78.2232, 15.6267, "Arctic/Longyearbyen", "2024-12-21", "day"),  # polar night
        (-77.8463, 166.6762, "Antarctica/McMurdo", "2024-12-21", "night"),
        (-77.8463, 166.6762, "Antarctica/McMurdo", "2024-06-21", "day"),
    ],
)
def test_a_polar_window_that_never_opens_is_known_as_such(
    latitude: float, longitude: float, zone: str, date: str, shut: str
) -> None:
    place = Place(latitude, longitude)
    moment = datetime.datetime.fromisoformat(f"{date}T12:00").replace(tzinfo=ZoneInfo(zone))
    assert UploadWindow.parse(shut, place).never_opens(moment)
    other = "day" if shut == "night" else "night"
    assert UploadWindow.parse(other, place).is_open(moment)
    assert not UploadWindow.parse(other, place).never_opens(moment)


def test_sun_and_clock_conditions_combine() -> None:
    """``night&22:00-06:00``: both; ``sun<-12,03:00-04:00``: either."""
    place = Place(50.8365, -0.7792)
    zone = ZoneInfo("Europe/London")
    both = UploadWindow.parse("night&22:00-06:00", place)
    either = UploadWindow.parse("sun<-12,03:00-04:00", place)
    winter_evening = datetime.datetime(2021, 12, 21, 18, 0, tzinfo=zone)  # dark, but 18:00
    assert not both.is_open(winter_evening)
    assert both.is_open(winter_evening.replace(hour=23))
    summer_three = datetime.datetime(2024, 6, 21, 3, 30, tzinfo=zone)  # light already
    assert either.is_open(summer_three)  # by the clock
    assert not either.is_open(summer_three.replace(hour=5))


def test_a_sun_window_needs_the_stations_place() -> None:
    with pytest.raises(ConfigError, match="CSU_LATITUDE and CSU_LONGITUDE"):
        UploadWindow.parse("night")
    with pytest.raises(ConfigError, match="not a sun condition"):
        UploadWindow.parse("sun<-100", Place(0, 0))
    with pytest.raises(ConfigError, match="not a span"):
        UploadWindow.parse("nightfall", Place(0, 0))
