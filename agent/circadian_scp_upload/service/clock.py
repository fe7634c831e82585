"""The station's clock, checked against the server's before a pass touches a day.

A Raspberry Pi has no battery clock; a station whose NTP is blocked, or whose clock was
set by hand to the wrong month, would judge today over (and remove it, folder and all,
while the instrument still writes it). So before the first day of a pass that needs
work is touched, the agent asks the server for its time: ``date +%s`` where the server
has a shell (nothing written), else an empty file written in the destination, its
modification time read back, and removed. Either way the server's clock, to the second,
bounded by the round trip. A day is over only once it is over by the earlier of the two
clocks: a station ahead is held back by the server's clock, a station behind by its own.
A pass with nothing to do asks nothing and writes nothing (a second pass over verified
days leaves the server exactly as it was).
"""

from __future__ import annotations

import contextlib
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CircadianError, RemotePathError
from ..remote.api import Remote

PROBE_PREFIX = ".csu-clock-"
DATE_COMMAND = "date +%s"  # the server kit's csu-only answers it too


@dataclass(frozen=True)
class ClockReading:
    """The server's clock minus the station's (seconds), and how far off that may be."""

    offset: float
    uncertainty: float


def measure(
    remote: Remote,
    folder: str,
    tag: str,
    may_write: bool = True,
    now: Callable[[], float] = time.time,
) -> ClockReading:
    """Return the server's clock minus ours: by ``date +%s`` where the server has a
    shell and answers it, else (``may_write``) by an empty file
    ``folder/.csu-clock-<tag>`` (the folder made if missing; one name per station, so a
    probe left by a crash is reused and removed by the next one). Raises the package's
    errors where it cannot."""
    refused = ""
    if remote.traits().shell:
        before = now()
        result = remote.run(DATE_COMMAND, timeout=remote.io_timeout)
        after = now()
        text = result.stdout.decode(errors="replace").strip()
        if result.exit_status == 0 and text.isdigit():
            return _reading(float(text), before, after)
        said = (result.stderr or result.stdout).decode(errors="replace").strip()[:200]
        refused = f"`{DATE_COMMAND}` answered {said or f'exit {result.exit_status}'!r}; "
    if may_write:
        path = posixpath.join(folder, PROBE_PREFIX + tag)
        remote.make_folders([folder])
        before = now()
        remote.write_bytes(path, b"")
        entry = remote.stat(path)
        after = now()
        with contextlib.suppress(CircadianError):
            remote.remove(path)
        if entry is None or entry.mtime is None:
            raise RemotePathError(f"{refused}{remote.where} gave {path!r} no modification time")
        return _reading(float(entry.mtime), before, after)
    raise RemotePathError(
        f"{refused}the server cannot be asked the time without writing a file: the "
        "agent writes one before it uploads; `check --write` does so now"
    )


def _reading(server: float, before: float, after: float) -> ClockReading:
    """The server's time lies between before and after; its seconds are cut, not rounded."""
    return ClockReading(server + 0.5 - (before + after) / 2, (after - before) / 2 + 0.5)


def describe(offset: float) -> str:
    """``the station's clock is 2 d 0 h ahead of the server's`` (or behind, or agrees)."""
    size = abs(offset)
    if size < 1:
        return "the station's clock agrees with the server's"
    whole = round(size / 60) * 60 if size >= 3600 else round(size)  # to the minute, or second
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        amount = f"{days} d {hours} h"
    elif hours:
        amount = f"{hours} h {minutes} min"
    elif minutes:
        amount = f"{minutes} min {seconds} s"
    else:
        amount = f"{size:.1f} s"
    side = "behind" if offset > 0 else "ahead of"
    return f"the station's clock is {amount} {side} the server's"
