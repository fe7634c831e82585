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
days leaves the server exactly as it was). ``ServerClock`` is that check as the agent
holds it: measured at most once a pass, the last offset kept for the status.
"""

from __future__ import annotations

import contextlib
import datetime
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from ..errors import CircadianError, RemotePathError
from ..outcomes import rule_for
from ..remote.api import Remote
from ..source.readiness import Clock

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


class ServerClock:
    """The server's clock as the station's passes see it: measured afresh at the first
    day with work of each pass (``new_pass`` forgets the last pass's answer), the offset
    of the last measurement kept (``offset``) for the status and the report."""

    def __init__(self, clock: Clock, max_offset_seconds: float, tag: str) -> None:
        self.clock = clock  # the clock the days are judged by
        self.max_offset_seconds = max_offset_seconds
        self.tag = tag  # the probe file's name, where a file must be written
        self.offset: float | None = None  # the server's clock minus ours, last measured
        self._checked = False
        self._pass_offset: float | None = None

    def new_pass(self) -> None:
        """Forget the last pass's answer: the next question measures again."""
        self._checked, self._pass_offset = False, None

    def for_job(self, remote: Remote, folder: str) -> Callable[[], datetime.datetime | None]:
        """Return the clock a job's client asks before it touches a day: the earlier of
        the station's clock and the server's, measured at the pass's first call (in
        ``folder`` where that takes a file); None where it could not be measured."""

        def now() -> datetime.datetime | None:
            if not self._checked:
                offset = self._check(remote, folder)  # a link fault: asked again
                self._checked, self._pass_offset = True, offset
            if self._pass_offset is None:
                return None
            return self.clock() + datetime.timedelta(seconds=min(0.0, self._pass_offset))

        return now

    def _check(self, remote: Remote, folder: str) -> float | None:
        """Measure the server's clock against ours; return the offset, or None where it
        cannot be measured (said: the pass then keeps local files). Say it loudly when
        they disagree by more than CSU_MAX_CLOCK_OFFSET_SECONDS. A link fault is raised:
        the retry measures again."""
        try:
            reading = measure(remote, folder, self.tag, now=lambda: self.clock().timestamp())
        except CircadianError as error:
            if rule_for(error).scope == "pass":
                raise
            logger.warning(
                "the station's clock could not be checked against the server's ({}): days "
                "are judged over by the station's clock alone, and no local file is "
                "removed in this pass",
                error,
            )
            return None
        self.offset = reading.offset
        if abs(reading.offset) > self.max_offset_seconds:
            logger.warning(
                "{} (more than CSU_MAX_CLOCK_OFFSET_SECONDS={:g}, measured to {:.1f} s): a "
                "day is judged over only once it is over by both clocks; set the station's "
                "time right (NTP)",
                describe(reading.offset),
                self.max_offset_seconds,
                reading.uncertainty,
            )
        else:
            logger.debug("{} (offset {:+.1f} s)", describe(reading.offset), reading.offset)
        return reading.offset
