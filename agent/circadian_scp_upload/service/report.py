"""Station reports: what a station tells the server it uploads to, for the fleet view.

At the end of every pass that reached the server (a failed day included, a dead link
not), the agent writes its status (what ``status --json`` prints) with its name, version,
libraries, time zone and clock offset to ``<destination>/.csu/stations/<station>.json``:
under a temporary name, then renamed over the last one, so a reader never sees half a
report. One small file per station (a few KB: the last ``DAYS_KEPT`` days at most). A
report that cannot be written is one warning; it never fails or slows a pass.
``fleet`` (``fleet.py``) reads them.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from loguru import logger

from ..errors import CircadianError
from ..remote.api import Remote
from ..remote.paths import normalize_remote
from .settings import AgentSettings
from .status import Status
from .versions import PACKAGE, installed, library_versions

REPORT_FOLDER = ".csu/stations"
REPORT_FORMAT = 1
UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def report_folder(settings: AgentSettings) -> str:
    """Return the remote folder of the reports: ``CSU_REPORT_DIR``, else ``.csu/stations``
    in the common folder of every job's destination."""
    if settings.report_dir:
        return normalize_remote(settings.report_dir)
    folders = [normalize_remote(job.dst) for job in settings.job_list() if job.dst]
    absolute = [folder for folder in folders if folder.startswith("/")]
    base = posixpath.commonpath(absolute) if len(absolute) == len(folders) else folders[0]
    return posixpath.join(base, REPORT_FOLDER)


def report_name(station: str) -> str:
    """Return the file name of a station's report (its name, made safe for a path)."""
    return UNSAFE.sub("_", station).strip(".") or "station"


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
    return report


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
