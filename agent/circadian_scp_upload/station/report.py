"""Writing the station report: what a station tells the server it uploads to, for the fleet view.

At the end of every pass that reached the server (a failed day included, a dead link
not), the agent writes its status (what ``status --json`` prints) with its name, version,
libraries, time zone and clock offset to ``<destination>/.csu/stations/<station>.json``:
under a temporary name, then renamed over the last one, so a reader never sees half a
report. One small file per station (a few KB: the last ``DAYS_KEPT`` days at most;
messages cut to 500 characters, 64 KiB at most). A report that cannot be written is one
warning; it never fails a pass, nor delays a stop (none is written then).
``next_contact`` says when the station expects its next pass to reach the server (later
than one interval where its upload window is closed), so the fleet judges lateness by
it. The format is ``report.py`` at the package's top; ``fleet`` (``office/fleet.py``) reads them.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import posixpath
from collections.abc import Mapping
from typing import Any

from loguru import logger

from ..config.schedule import UploadWindow
from ..config.settings import AgentSettings
from ..config.versions import PACKAGE, installed, library_versions
from ..errors import CircadianError
from ..remote.api import Remote
from ..remote.paths import normalize_remote
from ..report import (
    MAX_BYTES,
    MAX_ITEMS,
    MAX_TEXT,
    REPORT_FOLDER,
    REPORT_FORMAT,
    report_name,
)
from .status import Status


def report_folder(settings: AgentSettings) -> str:
    """Return the remote folder of the reports: ``CSU_REPORT_DIR``, else ``.csu/stations``
    in the common folder of every job's destination."""
    if settings.report_dir:
        return normalize_remote(settings.report_dir)
    folders = [normalize_remote(job.dst) for job in settings.job_list() if job.dst]
    absolute = [folder for folder in folders if folder.startswith("/")]
    base = posixpath.commonpath(absolute) if len(absolute) == len(folders) else folders[0]
    return posixpath.join(base, REPORT_FOLDER)


def build_report(
    status: Status, zone: str, interval_seconds: int, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return a station's report: its status, and what the office needs beside it."""
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "agent_version": installed(PACKAGE),
        "libraries": library_versions(),
        "python": platform.python_version(),
        "timezone": zone,
        "interval_seconds": interval_seconds,
        **dataclasses.asdict(status),  # clock_offset_seconds among them
    }
    report.update(extra or {})
    return bounded(report)


def next_contact(now: datetime.datetime, interval: float, window: UploadWindow | None) -> str:
    """Return when the next pass is expected to reach the server (ISO, UTC, by this
    station's clock; ``now`` in the station's zone): an interval from now, or, where the
    upload window is closed then, an interval after it opens."""
    step = datetime.timedelta(seconds=interval)
    moment = now + step
    if window is not None and not window.is_open(moment):
        opens = window.next_change(moment)
        if opens is not None:
            moment = opens + step
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")


def bounded(report: dict[str, Any]) -> dict[str, Any]:
    """Return the report with every long text cut to ``MAX_TEXT`` characters, and the
    oldest days dropped until it fits in ``MAX_BYTES`` (the fleet refuses bigger ones)."""

    def cut(value: Any) -> Any:
        if isinstance(value, str) and len(value) > MAX_TEXT:
            return value[: MAX_TEXT - 1] + "…"
        if isinstance(value, dict):
            return {key: cut(item) for key, item in value.items()}
        if isinstance(value, list):
            return [cut(item) for item in value[:MAX_ITEMS]]
        return value

    trimmed: dict[str, Any] = cut(report)
    days = trimmed.get("days")
    while len(json.dumps(trimmed)) > MAX_BYTES and isinstance(days, dict) and days:
        for oldest in sorted(days)[: max(1, len(days) // 4)]:
            del days[oldest]
    return trimmed


def write_report(remote: Remote, folder: str, station: str, report: dict[str, Any]) -> bool:
    """Write a report atomically (a temporary name, then renamed over the last one);
    return whether it was written. A refusal is one warning, never an error."""
    data = json.dumps(report, indent=1, sort_keys=True).encode()
    final = posixpath.join(folder, f"{report_name(station)}.json")
    temporary = posixpath.join(folder, f".{report_name(station)}.json.tmp")
    try:
        remote.make_folders([folder])
        remote.write_bytes(temporary, data)
        remote.rename_over(temporary, final)
    except CircadianError as error:
        logger.warning("the station report could not be written to {}: {}", final, error)
        return False
    logger.debug("station report written to {} ({} bytes)", final, len(data))
    return True
