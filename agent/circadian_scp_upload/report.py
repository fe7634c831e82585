"""The station report's format: the one thing the station writes and the office reads.

Where reports live (``REPORT_FOLDER`` under a job's destination), what a report file is
called (``report_name``), its bounds (``MAX_*``), how many days it keeps and the states a
day can be in. The station's writer (``station/report.py``) and the office's reader
(``office/fleet.py``) both import this module and nothing of each other; it imports
nothing of the package.
"""

from __future__ import annotations

import re

REPORT_FOLDER = ".csu/stations"
REPORT_FORMAT = 1
MAX_TEXT = 500  # characters of one message in a report
MAX_ITEMS = 50  # entries of one list (jobs, problems)
MAX_BYTES = 64 * 1024  # a report at most; the fleet reads 256 KiB at most
DAYS_KEPT = 62  # days of history in the status (the fleet page shows up to this many)
DAY_STATES = ("verified", "pending", "failed")  # in rising order of concern
UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def report_name(station: str) -> str:
    """Return the file name of a station's report (its name, made safe for a path)."""
    return UNSAFE.sub("_", station).strip(".") or "station"
