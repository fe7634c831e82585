"""What a hold answers (``Held``), what a hold is (``Hold``), and the one place they are
asked in order (``first_held``)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Protocol

from ...outcomes import Outcome


@dataclass(frozen=True)
class Held:
    """Why a pass may not go now.

    ``hold`` names the hold (``turned-off``, ``upload-window``, ``pause-file``);
    ``reason`` is the one wording every outlet says (log, status, report, ping body);
    ``outcome`` is how a pass that did not start ends; ``until`` is when the hold lifts
    where that is known (the window's next opening), else None (when someone acts).
    """

    hold: str
    reason: str
    outcome: Outcome
    until: datetime.datetime | None = None


class Hold(Protocol):
    """One reason a pass may not go; asked with the station's local time."""

    def at_start(self, now: datetime.datetime) -> Held | None:
        """Before a pass connects: whether it may start."""

    def between_files(self, now: datetime.datetime) -> Held | None:
        """Between two files of a running pass: whether it must stop."""


def first_held(
    holds: list[Hold], now: datetime.datetime, *, between_files: bool = False
) -> Held | None:
    """Ask every hold, in their order; return the first that holds, or None. Each is
    asked even when an earlier one holds: a hold may keep its own bookkeeping (the pause
    file's hold times a pause from when it first saw the file, and must see it go)."""
    answers = [hold.between_files(now) if between_files else hold.at_start(now) for hold in holds]
    return next((held for held in answers if held is not None), None)
