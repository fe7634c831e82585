"""Paused by the instrument: while ``CSU_PAUSE_FILE`` exists (its software makes it while
it measures) no pass starts, and a running pass stops at the next file.

A pause is timed from when the agent first saw that file (by this station's clock, kept
in the state folder across restarts in ``PAUSE_SEEN``; never by the file's own time,
which the instrument's computer stamps): one older than ``CSU_PAUSE_MAX_SECONDS`` is
stale, warned about once, and ignored. A pause file that cannot be seen (its folder not
mounted, or not readable by the agent's user) counts as a pause: uploading while the
instrument measures is the harm a pause prevents.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

from loguru import logger

from ...outcomes import Outcome
from .base import Held

PAUSE_SEEN = "pause-seen.json"  # when the agent first saw the current pause file


class PauseFile:
    """Holds a pass while the instrument's pause file is there (no file set: never)."""

    def __init__(self, path: Path | None, max_seconds: float, state_dir: Path) -> None:
        self.path = path
        self.max_seconds = max_seconds
        self.seen_file = state_dir / PAUSE_SEEN
        self._forgotten = False  # whether PAUSE_SEEN is known to be gone

    def at_start(self, now: datetime.datetime) -> Held | None:
        reason = self.reason()
        return Held("pause-file", reason, Outcome.PAUSED) if reason else None

    def between_files(self, now: datetime.datetime) -> Held | None:
        return self.at_start(now)

    def reason(self) -> str | None:
        """Why the instrument asks for a pause, or None (no pause, or a stale one)."""
        path = self.path
        if path is None:
            return None
        try:
            info = path.stat()
        except OSError as error:
            key, reason = self._unseen(path, error)
            if key is None:
                return None
        else:
            key, reason = f"{info.st_dev}:{info.st_ino}", f"paused: {path} exists"
        self._forgotten = False
        now = time.time()
        seen = self._seen()
        since = seen.get("since")
        if seen.get("file") != key or not isinstance(since, (int, float)) or since > now:
            # a new pause (or this clock went back past its start): timed from now
            seen = {"file": key, "since": now, "warned": False}
            self._keep(seen)
            since = now
        age = now - since
        if age <= self.max_seconds:
            return reason
        if not seen.get("warned"):
            lasted = (
                f"the pause file {path} has been there"
                if key[0].isdigit()
                else f"{reason.removeprefix('paused: ')}; that has been so"
            )
            logger.warning(
                "{} for {:.0f} s, more than CSU_PAUSE_MAX_SECONDS={:g}: it is taken as "
                "stale, and uploads go on (remove it when the instrument is done)",
                lasted,
                age,
                self.max_seconds,
            )
            self._keep({**seen, "warned": True})
        return None

    def _unseen(self, path: Path, error: OSError) -> tuple[str | None, str]:
        """Given why the pause file could not be looked at, return the pause it means
        (a key for its timing, and the reason), or (None, "") where there is none: the
        file is gone from a folder that is there. The rest fails towards pausing: a folder
        that is gone (a volume not mounted) or that cannot be looked into might hold the
        file."""
        if isinstance(error, FileNotFoundError):
            try:
                folder_there = path.parent.is_dir()
            except OSError:
                folder_there = False
            if folder_there:
                if not self._forgotten:  # once, not between every two files
                    self._forget()  # the next file is a new pause, whatever its inode
                    self._forgotten = True
                return None, ""
            return "folder-gone", (
                f"paused: the pause file's folder {path.parent} is not there (a volume not "
                "mounted?), so whether the instrument asks for a pause cannot be seen; "
                "mount it, or unset CSU_PAUSE_FILE"
            )
        return f"unreadable:{error.errno}", (
            f"paused: the pause file {path} cannot be looked at ({error.strerror}), so "
            "whether the instrument asks for a pause cannot be seen; let the agent's user "
            "read its folder, or unset CSU_PAUSE_FILE"
        )

    def _seen(self) -> dict[str, object]:
        try:
            found = json.loads(self.seen_file.read_text())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _forget(self) -> None:
        try:
            self.seen_file.unlink(missing_ok=True)
        except OSError as error:
            logger.warning("cannot forget the last pause in {}: {}", PAUSE_SEEN, error.strerror)

    def _keep(self, seen: dict[str, object]) -> None:
        target = self.seen_file
        try:
            temporary = target.with_suffix(".tmp")
            temporary.write_text(json.dumps(seen))
            temporary.replace(target)
        except OSError as error:
            logger.warning("cannot keep the pause's start in {}: {}", target, error.strerror)
