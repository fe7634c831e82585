"""What the agent knows about its work, kept in the state folder and readable offline.

- ``verified-days.json``: per job, the days known to be verified on the server, each
  with the fingerprint of its local files then (count, bytes, latest modification).
- ``status.json``: written after each pass (and each pass outside the upload window):
  the last pass, the last success, the backlog
  (ready days not known to be verified, so it is right while the link is down) per job
  and in total, and counters (files and bytes uploaded, passes by outcome).

``circadian-scp-upload status`` prints it; the metrics and the pings are made from it.
Keep ``CSU_STATE_DIR`` on a volume to keep it across restarts.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from ..config.state import write_private
from ..engine import DayResult
from ..errors import CircadianError
from ..report import DAY_STATES, DAYS_KEPT
from ..source.days import DayUnit, fingerprint

STATUS_FILE = "status.json"
VERIFIED_FILE = "verified-days.json"

Fingerprint = list[int]  # [files, bytes, latest modification (ns)]


def worse(first: str | None, second: str) -> str:
    """Return the more concerning of two day states."""
    if first is None:
        return second
    return max(first, second, key=DAY_STATES.index)


def day_key(unit: DayUnit) -> str:
    """Return the name a day is remembered by: its folder, or its date (``files``)."""
    return unit.names[0] if unit.variant == "directories" else unit.date.isoformat()


@dataclass
class Backlog:
    """Ready days not known to be verified on the server."""

    days: int = 0
    files: int = 0
    bytes: int = 0
    oldest_pending_day: str | None = None
    error: str = ""

    def add(self, other: Backlog) -> None:
        """Count ``other`` in too."""
        self.days += other.days
        self.files += other.files
        self.bytes += other.bytes
        oldest = [d for d in (self.oldest_pending_day, other.oldest_pending_day) if d]
        self.oldest_pending_day = min(oldest) if oldest else None


@dataclass
class Status:
    """The content of ``status.json``."""

    station: str
    updated: str = ""
    last_success: str | None = None
    last_pass: dict[str, Any] = field(default_factory=dict)
    backlog_days: int = 0
    backlog_files: int = 0
    backlog_bytes: int = 0
    oldest_pending_day: str | None = None
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploaded_files_total: int = 0
    uploaded_bytes_total: int = 0
    replaced_kept_total: int = 0  # server copies of changed files kept under .csu-replaced
    passes_total: dict[str, int] = field(default_factory=dict)
    # the last DAYS_KEPT days, date -> verified | pending | failed (all jobs; the worst)
    days: dict[str, str] = field(default_factory=dict)
    # the server's clock minus the station's at the last pass that reached it (seconds)
    clock_offset_seconds: float | None = None


class StatusBook:
    """Reads and writes the state folder's record of verified days and the status."""

    def __init__(self, state_dir: Path, station: str) -> None:
        self.state_dir = state_dir
        self.status = Status(station)
        self.verified: dict[str, dict[str, Fingerprint]] = {}
        self._load()

    def _load(self) -> None:
        loaded = read_json(self.state_dir / STATUS_FILE)
        if loaded:
            known = set(Status.__dataclass_fields__)
            self.status = Status(**{k: v for k, v in loaded.items() if k in known})
        self.verified = read_json(self.state_dir / VERIFIED_FILE) or {}

    def record_verified(self, job: str, unit: DayUnit, print_: Fingerprint) -> None:
        """Remember that a day is verified on the server with this local content."""
        self.verified.setdefault(job, {})[day_key(unit)] = print_

    def backlog(
        self,
        job: str,
        units: list[DayUnit],
        seen: Mapping[str, DayResult] | None = None,
        states: dict[str, str] | None = None,
    ) -> Backlog:
        """Return the ready days of a job whose content is not known to be verified.

        ``seen``: what this pass found of days (by day key): counted from that instead of
        listing them again. A day that cannot be listed counts as pending. ``states``,
        where given, gets each ready day's state (date -> verified, pending or failed:
        a day this pass failed).
        """
        found = Backlog()
        known = self.verified.get(job, {})
        for unit in units:
            key = day_key(unit)
            date = unit.date.isoformat()
            result = (seen or {}).get(key)
            state = "failed" if result is not None and result.status == "failed" else None
            if result is not None and result.fingerprint:
                print_ = result.fingerprint
            else:
                try:
                    print_ = fingerprint(unit.list_files())
                except CircadianError:
                    found.add(Backlog(1, 0, 0, date))
                    if states is not None:
                        states[date] = worse(states.get(date), state or "pending")
                    continue
            if known.get(key) != print_:
                found.add(Backlog(1, print_[0], print_[1], date))
                state = state or "pending"
            if states is not None:
                states[date] = worse(states.get(date), state or "verified")
        return found

    def note_days(self, states: Mapping[str, str], verified: set[str]) -> None:
        """Keep the days' states for the history: those seen now as they are, days
        verified in this pass (their local copies may be gone) as verified, the others
        as they were; the last ``DAYS_KEPT`` days only."""
        days = dict(self.status.days)
        for date in verified:
            days[date] = "verified"
        days.update(states)
        self.status.days = dict(sorted(days.items())[-DAYS_KEPT:])

    def finish_pass(
        self,
        started: datetime.datetime,
        outcome: str,
        message: str,
        backlogs: dict[str, Backlog],
        uploaded: tuple[int, int],
        kept_aside: int = 0,
    ) -> Status:
        """Record a pass: its outcome, the backlog and the counters; write both files."""
        now = datetime.datetime.now(datetime.timezone.utc).astimezone()
        status = self.status
        status.updated = now.isoformat(timespec="seconds")
        status.last_pass = {
            "started": started.isoformat(timespec="seconds"),
            "finished": status.updated,
            "outcome": outcome,
            "message": message,
            "duration_seconds": round((now - started).total_seconds(), 3),
        }
        if outcome == "ok":
            status.last_success = status.updated
        total = Backlog()
        status.jobs = {}
        for job, backlog in backlogs.items():
            total.add(backlog)
            status.jobs[job] = asdict(backlog)
        status.backlog_days, status.backlog_files = total.days, total.files
        status.backlog_bytes, status.oldest_pending_day = total.bytes, total.oldest_pending_day
        status.uploaded_files_total += uploaded[0]
        status.uploaded_bytes_total += uploaded[1]
        status.replaced_kept_total += kept_aside
        status.passes_total[outcome] = status.passes_total.get(outcome, 0) + 1
        self.save()
        return status

    def save(self) -> None:
        """Write the status and the verified days (private, atomic)."""
        try:
            write_private(self.state_dir / STATUS_FILE, _dump(asdict(self.status)))
            write_private(self.state_dir / VERIFIED_FILE, _dump(self.verified))
        except OSError as error:
            logger.warning("cannot write the status in {}: {}", self.state_dir, error)


def read_status(state_dir: Path) -> Status | None:
    """Return the status the agent last wrote, or None if there is none yet."""
    loaded = read_json(state_dir / STATUS_FILE)
    if not loaded:
        return None
    known = set(Status.__dataclass_fields__)
    return Status(**{k: v for k, v in loaded.items() if k in known})


def read_json(path: Path) -> Any:
    """Return a JSON file's content, or None if it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _dump(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode()
