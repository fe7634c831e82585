"""The health file Docker's HEALTHCHECK reads, and what "healthy" means.

Healthy: the loop reports (a heartbeat), the last pass was not refused by the server nor
stopped by the configuration, and a pass succeeded or work went on (bytes moved, files
hashed, a closed upload window waited for) within ``CSU_UNHEALTHY_AFTER_SECONDS``,
counted from the first start the state folder saw. A long first pass that keeps
uploading stays healthy; a station whose every pass fails does not, across restarts and
``once`` runs alike.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from ..config.state import write_private
from ..outcomes import Outcome

HEALTH_FILE = "health.json"
HEARTBEAT_SECONDS = 10.0
HEALTH_STALE_SECONDS = 900.0
DEFAULT_UNHEALTHY_AFTER_SECONDS = 3600.0
REASONS = {
    Outcome.REFUSED.value: "the last pass was refused by the server (login, host key) or "
    "another agent holds the source (see the logs)",
    Outcome.CONFIG.value: "the configuration cannot work as given (see the logs)",
}


class Health:
    """Writes the health file: rate-limited heartbeats, each pass's outcome, progress.

    ``progress`` returns a number that grows while bytes move (the pacer's count).
    """

    def __init__(self, state_dir: Path, progress: Callable[[], int] = lambda: 0) -> None:
        self.path = state_dir / HEALTH_FILE
        self.progress = progress
        earlier = _read(self.path)  # a restart, or one `once` after another: history counts
        self.started = float(earlier.get("started") or time.time())
        self.last_outcome: str | None = earlier.get("last_outcome")
        self.last_success: float | None = earlier.get("last_success")
        self.last_progress: float | None = earlier.get("last_progress")
        self._moved = progress()
        self._active = False
        self._last_beat = 0.0

    def mark_active(self) -> None:
        """Note work in progress that moves no byte (hashing, listing, a closed window)."""
        self._active = True

    def beat(self, force: bool = False) -> None:
        """Record that the loop is alive (at most every ``HEARTBEAT_SECONDS`` unless forced)."""
        now = time.time()
        if not force and now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        moved = self.progress()
        if moved != self._moved or self._active:
            self._moved, self.last_progress, self._active = moved, now, False
        state = {
            "pid": os.getpid(),
            "heartbeat": now,
            "started": self.started,
            "last_outcome": self.last_outcome,
            "last_success": self.last_success,
            "last_progress": self.last_progress,
        }
        try:
            write_private(self.path, json.dumps(state).encode())
        except OSError as error:
            logger.warning("cannot write the health file {}: {}", self.path, error)

    def finish_pass(self, outcome: Outcome) -> None:
        """Record a pass's outcome (nothing due: outside the upload window, paused, turned
        off, counts as work done: healthy)."""
        self.last_outcome = outcome.value
        if outcome == Outcome.OK:
            self.last_success = time.time()
        if outcome in (Outcome.IDLE, Outcome.PAUSED, Outcome.DISABLED):
            self.mark_active()
        self.beat(force=True)


def _read(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def check_health(
    state_dir: Path,
    unhealthy_after: float = DEFAULT_UNHEALTHY_AFTER_SECONDS,
    stale_after: float = HEALTH_STALE_SECONDS,
) -> tuple[bool, str]:
    """Return whether the daemon is healthy, and why (the reason names what is wrong)."""
    path = state_dir / HEALTH_FILE
    state = _read(path)
    if not state:
        return False, f"no health file at {path}: the agent loop is not running"
    now = time.time()
    age = now - float(state.get("heartbeat", 0))
    if age > stale_after:
        return False, f"the agent loop has not reported for {age:.0f} s"
    outcome = state.get("last_outcome")
    if outcome in REASONS:
        return False, REASONS[outcome]
    since = max(float(state.get(key) or 0) for key in ("last_success", "last_progress", "started"))
    if now - since > unhealthy_after:
        return False, (
            f"no pass succeeded and no work went on for {now - since:.0f} s (more than "
            f"{unhealthy_after:.0f} s); the last pass: {outcome or 'none finished'} "
            "(see the logs)"
        )
    return True, f"alive ({age:.0f} s ago), last pass: {outcome or 'running'}"
