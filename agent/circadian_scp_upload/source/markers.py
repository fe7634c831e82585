"""The ``.do-not-touch`` markers: a signal to downstream processing that a day is in
progress, in the local day folder and (written by the engine) in the remote one.

A marker left behind by a crashed run is simply taken over.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
from pathlib import Path

from .localio import local_io

MARKER_NAME = ".do-not-touch"


def marker_text(day: datetime.date) -> str:
    """Given the day, return the marker's content: who is uploading what, since when."""
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return (
        f"circadian-scp-upload is uploading {day.isoformat()} from {socket.gethostname()} "
        f"(pid {os.getpid()}) since {now}; do not process this day until this file is gone\n"
    )


def set_local_marker(folder: Path, day: datetime.date) -> Path:
    """Write the marker into a local folder (replacing a stale one); return its path."""
    path = folder / MARKER_NAME
    with local_io("write the local marker", path):
        path.write_text(marker_text(day), encoding="utf-8")
    return path


def remove_local_marker(folder: Path) -> None:
    """Remove the local marker if it is there."""
    path = folder / MARKER_NAME
    with local_io("remove the local marker", path), contextlib.suppress(FileNotFoundError):
        path.unlink()
