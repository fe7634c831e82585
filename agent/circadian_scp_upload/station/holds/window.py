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

    def _closed(self, now: datetime.datetime) -> bool:
        return self.window is not None and not self.window.is_open(now.astimezone(self.zone.zone))

    def at_start(self, now: datetime.datetime) -> Held | None:
        if self.window is None or not self._closed(now):
            return None
        return Held(
            "upload-window",
            f"outside the upload window ({self.window.text})",
            Outcome.IDLE,
            self.window.next_change(now.astimezone(self.zone.zone)),
        )

    def between_files(self, now: datetime.datetime) -> Held | None:
        if self.window is None or not self._closed(now):
            return None
        return Held(
            "upload-window",
            f"the upload window ({self.window.text}) closed",
            Outcome.STOPPED,
            self.window.next_change(now.astimezone(self.zone.zone)),
        )
