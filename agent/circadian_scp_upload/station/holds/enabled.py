"""Turned off: ``CSU_ENABLED=false``, or every job ``enabled: false`` in the jobs file.
No pass starts and no connection is made; a running pass is not stopped by it (the
setting is read when the agent starts)."""

from __future__ import annotations

import datetime

from ...config.settings import AgentSettings
from ...outcomes import Outcome
from .base import Held


class TurnedOff:
    """Holds every pass of a station whose uploads are turned off."""

    def __init__(self, settings: AgentSettings) -> None:
        self.reason: str | None = None
        if not settings.enabled:
            self.reason = "uploads are turned off (CSU_ENABLED=false)"
        elif not any(job.enabled for job in settings.job_list()):
            self.reason = "every job is turned off (enabled: false in the jobs file)"

    def at_start(self, now: datetime.datetime) -> Held | None:
        if self.reason is None:
            return None
        return Held("turned-off", self.reason, Outcome.DISABLED)

    def between_files(self, now: datetime.datetime) -> Held | None:
        return None
