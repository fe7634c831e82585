"""The fleet, seen from the server the stations upload to: their reports, read and judged.

Every station writes ``.csu/stations/<station>.json`` in its destination (``report.py``).
``fleet ROOT`` finds the reports of every station whose destination lies under ROOT (the
usual layout: one folder per station under a common root; ``depth`` folders down, dated
day folders and hidden ones skipped), on this machine (the server itself) or over SSH
with the agent's own settings, and makes one row per station: last contact, last
success, backlog, oldest pending day, last error, and LATE when the last contact is
older than a limit (three pass intervals of that station, an hour at least).
"""

from __future__ import annotations

import datetime
import json
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..remote.api import Remote

REPORTS = (".csu", "stations")
DEFAULT_DEPTH = 2
MIN_LATE_SECONDS = 3600.0
DAY_FOLDER = re.compile(r"^\d{6,8}")  # 20240917..., skipped: stations' data, not reports
FAILING = ("failed", "refused", "config")
UTC = datetime.timezone.utc


@dataclass
class StationRow:
    """One station, as its report and the time now say."""

    station: str
    report: str  # where its report is
    last_contact: str | None
    last_success: str | None
    outcome: str
    message: str
    backlog_days: int
    backlog_bytes: int
    oldest_pending_day: str | None
    agent_version: str
    timezone: str
    clock_offset_seconds: float | None
    late: bool = False
    late_by_seconds: float = 0.0
    days: dict[str, str] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        """Whether the station's last pass failed or was refused."""
        return self.outcome in FAILING

    @property
    def state(self) -> str:
        """``ok``, ``FAILING`` or ``LATE`` (LATE first: its last word is old news)."""
        return "LATE" if self.late else "FAILING" if self.failing else "ok"


def _parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        found = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def row_from(
    report: dict[str, Any], where: str, now: datetime.datetime, late_after: float | None
) -> StationRow:
    """Given one report, return its station's row, judged at ``now``."""
    last_pass = report.get("last_pass") or {}
    contact = _parse_time(report.get("written"))
    interval = float(report.get("interval_seconds") or 600)
    limit = late_after if late_after is not None else max(3 * interval, MIN_LATE_SECONDS)
    age = (now - contact).total_seconds() if contact else float("inf")
    return StationRow(
        station=str(report.get("station") or posixpath.basename(where).removesuffix(".json")),
        report=where,
        last_contact=report.get("written"),
        last_success=report.get("last_success"),
        outcome=str(last_pass.get("outcome") or "none"),
        message=str(last_pass.get("message") or ""),
        backlog_days=int(report.get("backlog_days") or 0),
        backlog_bytes=int(report.get("backlog_bytes") or 0),
        oldest_pending_day=report.get("oldest_pending_day"),
        agent_version=str(report.get("agent_version") or "?"),
        timezone=str(report.get("timezone") or "?"),
        clock_offset_seconds=report.get("clock_offset_seconds"),
        late=age > limit,
        late_by_seconds=max(0.0, age - limit) if age != float("inf") else age,
        days=dict(report.get("days") or {}),
    )


def _candidates(root: str, depth: int, folders_of: Any) -> Iterator[str]:
    """Yield ROOT and the folders below it, ``depth`` levels down, in which reports may
    lie; ``folders_of(path)`` lists a folder's subfolders."""
    level = [root]
    for current in range(depth + 1):
        yield from level
        if current == depth:
            return
        below = []
        for folder in level:
            for name in sorted(folders_of(folder)):
                if not name.startswith(".") and not DAY_FOLDER.match(name):
                    below.append(posixpath.join(folder, name))
        level = below


def read_local(root: Path, depth: int = DEFAULT_DEPTH) -> list[tuple[str, dict[str, Any]]]:
    """Return (path, report) of every report below ``root`` on this machine."""

    def folders_of(path: str) -> list[str]:
        try:
            with os.scandir(path) as entries:
                return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        except OSError:
            return []

    found = []
    for folder in _candidates(str(root), depth, folders_of):
        reports = Path(folder, *REPORTS)
        if not reports.is_dir():
            continue
        for path in sorted(reports.glob("*.json")):
            try:
                found.append((str(path), json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue
    return found


def read_remote(remote: Remote, root: str, depth: int = DEFAULT_DEPTH) -> list[tuple[str, Any]]:
    """Return (path, report) of every report below ``root`` on the server, over SSH."""

    def folders_of(path: str) -> list[str]:
        return sorted(remote.list_files(path, recursive=False).folders)

    found = []
    for folder in _candidates(root, depth, folders_of):
        reports = posixpath.join(folder, *REPORTS)
        listing = remote.list_files(reports, recursive=False)
        for name in sorted(listing.files):
            if not name.endswith(".json") or name.startswith("."):
                continue
            path = posixpath.join(reports, name)
            try:
                data = b"".join(remote.read_file(path))
                found.append((path, json.loads(data)))
            except ValueError:
                continue
    return found


def fleet_rows(
    reports: list[tuple[str, Any]],
    now: datetime.datetime | None = None,
    late_after: float | None = None,
) -> list[StationRow]:
    """Return a row per station (the newest report where a station wrote several)."""
    moment = now or datetime.datetime.now(UTC)
    rows: dict[str, StationRow] = {}
    for where, report in reports:
        if not isinstance(report, dict):
            continue
        row = row_from(report, where, moment, late_after)
        earlier = rows.get(row.station)
        if earlier is None or (row.last_contact or "") > (earlier.last_contact or ""):
            rows[row.station] = row
    return [rows[name] for name in sorted(rows)]


def human_bytes(size: float) -> str:
    """``3.1 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def human_age(seconds: float) -> str:
    """``3 d 2 h``, ``5 h 10 min``, ``12 min``."""
    if seconds == float("inf"):
        return "never"
    minutes = int(seconds // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def short_time(text: str | None) -> str:
    """A report's ISO time as ``2024-09-18 01:05 UTC`` (or ``-``)."""
    moment = _parse_time(text)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def render_text(rows: list[StationRow]) -> str:
    """Return the fleet as a table for a terminal, a summary line last."""
    header = ("station", "last contact", "last success", "backlog", "oldest pending", "state")
    lines = [header]
    for row in rows:
        backlog = f"{row.backlog_days} d, {human_bytes(row.backlog_bytes)}"
        state = row.state
        if row.late:
            state += f" (late by {human_age(row.late_by_seconds)})"
        if row.failing:
            state += f" {row.outcome}: {row.message[:120]}" if row.message else f" {row.outcome}"
        lines.append(
            (
                row.station,
                short_time(row.last_contact),
                short_time(row.last_success),
                backlog,
                row.oldest_pending_day or "-",
                state,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in lines
    ]
    counts = {
        state: sum(1 for row in rows if row.state == state) for state in ("ok", "FAILING", "LATE")
    }
    text.append(
        f"{len(rows)} station(s): {counts['ok']} ok, {counts['FAILING']} failing, "
        f"{counts['LATE']} late"
    )
    return "\n".join(line.rstrip() for line in text) + "\n"


def render_json(rows: list[StationRow]) -> str:
    """Return the fleet as JSON for scripts (each row, with its state)."""
    return json.dumps(
        [{**row.__dict__, "state": row.state, "failing": row.failing} for row in rows],
        indent=2,
        sort_keys=True,
    )
