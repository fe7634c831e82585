"""Outside the upload window (``CSU_UPLOAD_WINDOW``, station time, or by the sun): no pass
starts, and a running pass stops at the next file once the window has closed. It lifts
when the window opens next (``until``)."""

from __future__ import annotations

import datetime

from ...config.schedule import UploadWindow
from ...outcomes import Outcome
from ...source.readiness import StationZone
from .base import Held


class OutsideWindow:
    """Holds a pass while the upload window is closed (no window: never)."""

    def __init__(self, window: UploadWindow | None, zone: StationZone) -> None:
        self.window = window
        self.zone = zone

    def _held(self, now: datetime.datetime, reason: str, outcome: Outcome) -> Held | None:
        """``reason`` and ``outcome`` while the window is closed at ``now``, else None."""
        local = now.astimezone(self.zone.zone)
        if self.window is None or self.window.is_open(local):
            return None
        return Held("upload-window", reason, outcome, self.window.next_change(local))

    def at_start(self, now: datetime.datetime) -> Held | None:
        text = self.window.text if self.window is not None else ""
        return self._held(now, f"outside the upload window ({text})", Outcome.IDLE)

    def between_files(self, now: datetime.datetime) -> Held | None:
        text = self.window.text if self.window is not None else ""
        return self._held(now, f"the upload window ({text}) closed", Outcome.STOPPED)
