"""The health file Docker's HEALTHCHECK reads: a heartbeat and the last pass's outcome."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from loguru import logger

from .outcomes import Outcome
from .state import write_private

HEALTH_FILE = "health.json"
HEARTBEAT_SECONDS = 10.0
HEALTH_STALE_SECONDS = 900.0
UNHEALTHY_OUTCOMES = (Outcome.REFUSED.value, Outcome.CONFIG.value)


class Health:
    """Writes the health file: rate-limited heartbeats, and each pass's outcome."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / HEALTH_FILE
        self.last_outcome: str | None = None
        self._last_beat = 0.0

    def beat(self, force: bool = False) -> None:
        """Record that the loop is alive (at most every ``HEARTBEAT_SECONDS`` unless forced)."""
        now = time.time()
        if not force and now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        state = {"pid": os.getpid(), "heartbeat": now, "last_outcome": self.last_outcome}
        try:
            write_private(self.path, json.dumps(state).encode())
        except OSError as error:
            logger.warning("cannot write the health file {}: {}", self.path, error)

    def finish_pass(self, outcome: Outcome) -> None:
        """Record a pass's outcome."""
        self.last_outcome = outcome.value
        self.beat(force=True)


def check_health(state_dir: Path, stale_after: float = HEALTH_STALE_SECONDS) -> tuple[bool, str]:
    """Return whether the daemon is healthy, and why: alive and not refused."""
    path = state_dir / HEALTH_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return False, f"no health file at {path}: the agent loop is not running"
    age = time.time() - float(state.get("heartbeat", 0))
    if age > stale_after:
        return False, f"the agent loop has not reported for {age:.0f} s"
    if state.get("last_outcome") in UNHEALTHY_OUTCOMES:
        return False, "the last pass was refused by the server (see the logs)"
    return True, f"alive ({age:.0f} s ago), last pass: {state.get('last_outcome') or 'running'}"
