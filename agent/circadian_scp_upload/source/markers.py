"""The ``.do-not-touch`` markers: a signal to downstream processing that a day is in
progress, in the local day folder and (written by the engine) in the remote one.

A marker left behind by a crashed run is simply taken over; one that is a link is
replaced, never followed.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import socket
import stat
from pathlib import Path

from .localio import local_io

MARKER_NAME = ".do-not-touch"
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK


def marker_text(day: datetime.date) -> str:
    """Given the day, return the marker's content: who is uploading what, since when."""
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return (
        f"circadian-scp-upload is uploading {day.isoformat()} from {socket.gethostname()} "
        f"(pid {os.getpid()}) since {now}; do not process this day until this file is gone\n"
    )


def set_local_marker(folder: Path, day: datetime.date) -> Path:
    """Write the marker into a local folder (replacing a stale one); return its path.

    The marker is opened without following a link and must be a regular file: a link
    (say one that someone who can write the data folder planted towards a file of the
    agent's, its key), a FIFO or a device there is removed as an entry and a fresh
    marker created in its place, never written through.
    """
    path = folder / MARKER_NAME
    with local_io("write the local marker", path):
        descriptor = _open_marker(path)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.truncate(0)
            handle.write(marker_text(day))
    return path


def _open_marker(path: Path) -> int:
    """Open the marker for writing as a regular file of its own (see set_local_marker)."""
    try:
        descriptor = os.open(path, OPEN_FLAGS, 0o644)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise
        descriptor = -1
    if descriptor >= 0 and stat.S_ISREG(os.fstat(descriptor).st_mode):
        return descriptor
    if descriptor >= 0:
        os.close(descriptor)
    path.unlink()  # a link or a special file: the entry goes (a folder raises here)
    return os.open(path, OPEN_FLAGS | os.O_EXCL, 0o644)


def remove_local_marker(folder: Path) -> None:
    """Remove the local marker if it is there."""
    path = folder / MARKER_NAME
    with local_io("remove the local marker", path), contextlib.suppress(FileNotFoundError):
        path.unlink()
