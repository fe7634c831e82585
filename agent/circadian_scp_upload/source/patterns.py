"""Dated-name patterns: a regex with ``%Y``, ``%y``, ``%m`` and ``%d`` placeholders.

Given a pattern such as ``^%Y%m%d$`` or ``^station-%Y-%m-%d.*\\.txt$``, a
``DatedPattern`` tells which date a file or folder name stands for. The rules:

- ``%m`` and ``%d`` appear exactly once; the year appears exactly once, as ``%Y``
  (four digits) or ``%y`` (two digits, meaning 2000-2099), never both.
- The rest is an ordinary Python regex, matched against the whole name with
  ``re.search`` (anchor it with ``^`` and ``$`` to match whole names).
- A name that matches with two different dates is ambiguous: ``parse`` reports it
  instead of guessing. A name that matches no valid calendar date is no dated name.
"""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass

from ..errors import PatternError

PLACEHOLDER_REGEX = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"(?:0[1-9]|1[0-2])",
    "d": r"(?:0[1-9]|[12]\d|3[01])",
}
PLACEHOLDER = re.compile(r"%([Yymd])")
CENTURY_OF_TWO_DIGIT_YEARS = 2000


@dataclass(frozen=True)
class ParsedName:
    """What a name means: its date, or why it has none (``ambiguous`` lists the candidates)."""

    date: datetime.date | None
    ambiguous: tuple[datetime.date, ...] = ()


NO_DATE = ParsedName(date=None)


class DatedPattern:
    """A validated dated-name pattern. Raises ``PatternError`` naming the rule broken."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._fields = _validate_placeholders(pattern)
        self._regex = _compile(pattern, {})

    def __repr__(self) -> str:
        return f"DatedPattern({self.pattern!r})"

    def parse(self, name: str) -> ParsedName:
        """Given a file or folder name, return the date it stands for.

        Returns ``NO_DATE`` for names that do not match or match no real date, and a
        ``ParsedName`` with ``ambiguous`` set when the name matches with several dates.
        """
        first = self._regex.search(name)
        if first is None:
            return NO_DATE
        found = {_match_fields(first)}
        # Search again once per field, excluding the value just found: if any other
        # reading exists, one of these searches finds a reading that differs from it.
        for field in self._fields:
            other = _compile(self.pattern, {field: first.group(field)}).search(name)
            if other is not None:
                found.add(_match_fields(other))
        dates = sorted({d for d in map(_to_date, found) if d is not None})
        if not dates:
            return NO_DATE
        if len(dates) > 1:
            return ParsedName(date=None, ambiguous=tuple(dates))
        return ParsedName(date=dates[0])


def _validate_placeholders(pattern: str) -> tuple[str, ...]:
    """Given a pattern, return its placeholder fields in order, or raise PatternError."""
    if not isinstance(pattern, str) or not pattern:
        raise PatternError("the dated pattern is empty: give a regex such as '^%Y%m%d$'")
    fields = tuple(PLACEHOLDER.findall(pattern))
    problems = []
    for field in "Ymdy":
        if fields.count(field) > 1:
            problems.append(f"%{field} appears {fields.count(field)} times (at most once)")
    if "m" not in fields:
        problems.append("%m (month) is missing")
    if "d" not in fields:
        problems.append("%d (day) is missing")
    if "Y" not in fields and "y" not in fields:
        problems.append("the year is missing (%Y or %y)")
    if "Y" in fields and "y" in fields:
        problems.append("both %Y and %y are given (use one of them)")
    unknown = sorted(set(re.findall(r"%([A-Za-z])", pattern)) - set("Ymdy"))
    if unknown:
        problems.append(
            "unsupported placeholder " + ", ".join(f"%{u}" for u in unknown) + " (only %Y %y %m %d)"
        )
    if re.search(r"\(\?P<[Ymdy]>", pattern):
        problems.append("the group names Y, y, m, d are reserved for the placeholders")
    if problems:
        raise PatternError(
            f"invalid dated pattern {pattern!r}: "
            + "; ".join(problems)
            + ". Example of a valid pattern: '^%Y%m%d$'"
        )
    try:
        _compile(pattern, {})
    except re.error as error:
        raise PatternError(
            f"invalid dated pattern {pattern!r}: not a valid regular expression "
            f"once the placeholders are filled in ({error})"
        ) from None
    return fields


@functools.lru_cache(maxsize=1024)
def _compile_cached(pattern: str, excluded: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    exclude = dict(excluded)

    def replace(match: re.Match[str]) -> str:
        field = match.group(1)
        guard = f"(?!{re.escape(exclude[field])})" if field in exclude else ""
        return f"{guard}(?P<{field}>{PLACEHOLDER_REGEX[field]})"

    return re.compile(PLACEHOLDER.sub(replace, pattern), re.DOTALL)


def _compile(pattern: str, excluded: dict[str, str]) -> re.Pattern[str]:
    """Given a pattern and field values to exclude, return the compiled regex."""
    return _compile_cached(pattern, tuple(sorted(excluded.items())))


def _match_fields(match: re.Match[str]) -> tuple[int, int, int]:
    groups = match.groupdict()
    if groups.get("Y") is not None:
        year = int(groups["Y"])
    else:
        year = CENTURY_OF_TWO_DIGIT_YEARS + int(groups["y"])
    return year, int(groups["m"]), int(groups["d"])


def _to_date(fields: tuple[int, int, int]) -> datetime.date | None:
    try:
        return datetime.date(*fields)
    except ValueError:
        return None
