"""Progress lines: ``40.0 % (3/5) uploaded`` when a day starts, every interval, at the end."""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_PROGRESS_SECONDS = 30.0


class Progress:
    """Counts a day's bytes and files and logs them at most every ``interval`` seconds."""

    def __init__(
        self,
        log: Callable[[str], None],
        files: int,
        total_bytes: int,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log, self.files, self.total_bytes = log, files, total_bytes
        self.interval, self.clock = interval, clock
        self.done_bytes = 0
        self.done_files = 0
        self.current = 0
        self._last = 0.0

    def start_file(self, count: int = 1) -> None:
        """Note that work starts on the next ``count`` files (logged at once for the first)."""
        self.current = self.done_files + 1
        self.done_files += count
        self.maybe_log(force=self.current == 1)

    def add(self, count: int) -> None:
        """Count ``count`` more bytes done."""
        self.done_bytes += count
        self.maybe_log()

    def maybe_log(self, force: bool = False) -> None:
        """Log the state if forced or ``interval`` seconds passed since the last line."""
        now = self.clock()
        if force or now - self._last >= self.interval:
            self._last = now
            percent = 100.0 * self.done_bytes / self.total_bytes if self.total_bytes else 0.0
            self.log(f"{percent:.1f} % ({self.current}/{self.files}) uploaded")

    def finish(self) -> None:
        """Log the end of the day's uploads."""
        self.log(f"100.0 % ({self.files}/{self.files}) uploaded")
