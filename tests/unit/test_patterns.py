"""Dated-name patterns: validation, parsing, ambiguity."""

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circadian_scp_upload import PatternError, UploadClientCallbacks
from circadian_scp_upload.source.patterns import DatedPattern

DATES = st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2099, 12, 31))
LITERAL = st.text(alphabet="abcxyz-_. ", max_size=6)


def render(parts: list[str], date: datetime.date) -> str:
    values = {
        "%Y": f"{date.year:04d}",
        "%y": f"{date.year % 100:02d}",
        "%m": f"{date.month:02d}",
        "%d": f"{date.day:02d}",
    }
    return "".join(values.get(p, p) for p in parts)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        (r"^%Y%m%d$", "20240917", datetime.date(2024, 9, 17)),
        (r"^%Y-%m-%d$", "2024-09-17", datetime.date(2024, 9, 17)),
        (r"^%y%m%d$", "240917", datetime.date(2024, 9, 17)),
        (r"^%d\.%m\.%Y$", "17.09.2024", datetime.date(2024, 9, 17)),
        (r"^%Y%m%d-.*\.txt$", "20240917-a.txt", datetime.date(2024, 9, 17)),
        (r"^ABC%Y%m%d(\.csv|\.txt)$", "ABC20240917.csv", datetime.date(2024, 9, 17)),
        (r"^.*%Y%m%d.*$", "station_20240917_12.dat", datetime.date(2024, 9, 17)),
    ],
)
def test_parses_names(pattern: str, name: str, expected: datetime.date) -> None:
    assert DatedPattern(pattern).parse(name).date == expected


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        (r"^%Y%m%d$", "2024091"),  # too short
        (r"^%Y%m%d$", "20240917x"),  # trailing text under an anchored pattern
        (r"^%Y%m%d$", "20230231"),  # impossible date
        (r"^%Y%m%d$", "20231301"),  # month 13
        (r"^%Y%m%d$", "notes.txt"),
    ],
)
def test_ignores_non_matching_and_impossible_names(pattern: str, name: str) -> None:
    parsed = DatedPattern(pattern).parse(name)
    assert parsed.date is None
    assert parsed.ambiguous == ()


def test_detects_ambiguous_name() -> None:
    parsed = DatedPattern(r"^.*%Y%m%d.*$").parse("20240917-20240918.txt")
    assert parsed.date is None
    assert parsed.ambiguous == (datetime.date(2024, 9, 17), datetime.date(2024, 9, 18))


def test_repeated_same_date_is_not_ambiguous() -> None:
    assert DatedPattern(r"^.*%Y%m%d.*$").parse("20240917-20240917").date == datetime.date(
        2024, 9, 17
    )


@pytest.mark.parametrize(
    ("pattern", "rule"),
    [
        (r"^%Y%m$", "%d (day) is missing"),
        (r"^%Y%d$", "%m (month) is missing"),
        (r"^%m%d$", "the year is missing"),
        (r"^%Y%y%m%d$", "both %Y and %y"),
        (r"^%Y%m%d%d$", "%d appears 2 times"),
        (r"^%Y%m%d%H$", "unsupported placeholder %H"),
        (r"^%Y%m%d(", "not a valid regular expression"),
        (r"^(?P<Y>x)%Y%m%d$", "reserved"),
        ("", "empty"),
    ],
)
def test_rejects_bad_patterns_naming_the_rule(pattern: str, rule: str) -> None:
    with pytest.raises(PatternError, match=re.escape(rule)):
        DatedPattern(pattern)


def test_callbacks_validate_their_pattern() -> None:
    with pytest.raises(ValueError, match="month"):
        UploadClientCallbacks(dated_regex=r"^%Y%d$")
    assert UploadClientCallbacks().dated_regex == r"^%Y%m%d$"


@given(
    date=DATES,
    order=st.permutations(["%Y", "%m", "%d"]),
    seps=st.lists(LITERAL, min_size=4, max_size=4),
    short_year=st.booleans(),
)
def test_any_formatted_date_parses_back(
    date: datetime.date, order: list[str], seps: list[str], short_year: bool
) -> None:
    fields = ["%y" if f == "%Y" and short_year else f for f in order]
    parts = [seps[0], fields[0], seps[1], fields[1], seps[2], fields[2], seps[3]]
    pattern = "^" + "".join(re.escape(p) if not p.startswith("%") else p for p in parts) + "$"
    assert DatedPattern(pattern).parse(render(parts, date)).date == date


@given(first=DATES, second=DATES, middle=LITERAL)
def test_two_different_dates_under_a_wildcard_are_ambiguous(
    first: datetime.date, second: datetime.date, middle: str
) -> None:
    name = f"{first:%Y%m%d}{middle}x{second:%Y%m%d}"
    parsed = DatedPattern(r"^.*%Y%m%d.*$").parse(name)
    if first == second:
        assert parsed.date == first
    else:
        assert parsed.date is None
        assert set(parsed.ambiguous) >= {first, second}
