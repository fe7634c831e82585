"""The agent's state folder (``CSU_STATE_DIR``): private, and never written through a link.

It holds the health file, host keys accepted on first use, the status file and the
metrics. It is made 0700 and must belong to the agent's user; every file in it is
written under a fresh temporary name (``O_EXCL``, 0600) and renamed into place, so a
link planted there by someone else is replaced, never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from ..errors import ConfigError


def prepare_state_dir(path: Path) -> Path:
    """Create ``path`` private (0700) if needed; raise ConfigError if it cannot be ours."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as error:
        raise ConfigError(
            f"CSU_STATE_DIR: cannot create the state folder {str(path)!r} ({error.strerror}): "
            "give a folder this user may write (a tmpfs or a volume)"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"CSU_STATE_DIR: {str(path)!r} is not a folder (a link or a file stands there): "
            "give a folder of the agent's own"
        )
    if info.st_uid != os.geteuid():
        raise ConfigError(
            f"CSU_STATE_DIR: {str(path)!r} belongs to uid {info.st_uid}, not to this user "
            f"({os.geteuid()}): another user could read or plant files there; give a folder "
            "of the agent's own"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: a new 0600 file, renamed over it."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


MEMORY_FILESYSTEMS = ("tmpfs", "ramfs")


def on_memory_filesystem(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> bool:
    """Return whether ``path`` (or its nearest existing parent) is on a tmpfs or ramfs:
    emptied by every restart."""
    target = path.resolve()
    best, kind = "", ""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        before, _, after = line.partition(" - ")
        fields = before.split()
        if len(fields) < 5 or not after:
            continue
        point = fields[4].replace("\\040", " ")
        inside = str(target) == point or str(target).startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, after.split()[0]
    return kind in MEMORY_FILESYSTEMS
