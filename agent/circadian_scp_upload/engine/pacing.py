"""Pacing and stopping: a bandwidth limit over every byte sent, and the abort poll.

Both take their clock (and the pacer its sleep) through a seam, so tests run in
milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import UploadAborted

ABORT_POLL_SECONDS = 0.5
# Credit a pacer may save up while idle: a burst of at most this many seconds' worth.
BURST_SECONDS = 1.0
SLEEP_SLICE_SECONDS = 0.25
MIN_SLEEP_SECONDS = 0.001  # less is not worth a sleep (and a fake clock may not move)

Rate = Callable[[], int]


class AbortPoller:
    """Calls ``should_abort`` at most about twice a second; raises UploadAborted on yes.

    ``between_files`` is asked only between files: a stop it asks for (an upload window
    closing) never cuts a file in the middle.
    """

    def __init__(
        self,
        should_abort: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
        between_files: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.should_abort, self.clock, self.between_files = should_abort, clock, between_files
        self.next_poll = clock() + ABORT_POLL_SECONDS

    def __call__(self) -> None:
        """Ask, unless asked less than half a second ago."""
        if self.clock() >= self.next_poll:
            self._ask()

    def _ask(self) -> None:
        if self.should_abort():
            raise UploadAborted("upload aborted on request")
        self.next_poll = self.clock() + ABORT_POLL_SECONDS

    def check(self) -> None:
        """Ask now (between files, before a day), ``between_files`` too: it says why to
        stop, or None."""
        self._ask()
        reason = self.between_files()
        if reason:
            raise UploadAborted(reason)


class Pacer:
    """Keeps the bytes sent at or below a rate in bytes/s (0: unlimited), like rsync's
    ``--bwlimit``. One pacer serves every transfer of an agent, so the limit covers
    every byte, small files and large alike. ``rate`` may change over time (a timetable).
    """

    def __init__(
        self,
        rate: int | Rate = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate: Rate = rate if callable(rate) else (lambda: rate)
        self.clock, self.sleep = clock, sleep
        self.start = clock()
        self.sent = 0
        self.total = 0  # every byte accounted, whatever the rate (progress, metrics)
        self._last_rate = 0

    def __call__(self, count: int, poll: Callable[[], None] = lambda: None) -> None:
        """Account for ``count`` bytes about to be sent; wait as long as the rate needs,
        calling ``poll`` (which may raise to stop) at least four times a second."""
        self.total += count
        rate = self.rate()
        now = self.clock()
        if rate <= 0:
            self._last_rate = 0
            return
        behind = (now - self.start) - self.sent / rate
        if rate != self._last_rate or behind > BURST_SECONDS:
            self.start, self.sent, self._last_rate = now, 0, rate  # no credit saved up
        self.sent += count
        due = self.start + self.sent / rate
        while (left := due - self.clock()) > MIN_SLEEP_SECONDS:
            self.sleep(min(left, SLEEP_SLICE_SECONDS))
            poll()
