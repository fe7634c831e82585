"""The source-folder lock: one agent per source folder.

A real kernel lock (``flock`` on the source folder itself, so no lock file litters the
instrument's data): a second agent on the same folder is refused, and a crashed agent's
lock vanishes with its process.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from ..errors import ConfigError, LocalFileError, LockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

WINDOWS_LOCK_NAME = ".circadian-scp-upload.lock"


class SourceLock:
    """An exclusive, non-blocking lock on a source folder, used as a context manager."""

    def __init__(self, src_path: Path) -> None:
        self.src_path = src_path
        self._fd: int | None = None

    def __enter__(self) -> SourceLock:
        try:
            if fcntl is not None:
                self._fd = os.open(self.src_path, os.O_RDONLY)
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                import msvcrt

                path = self.src_path / WINDOWS_LOCK_NAME
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT)
                msvcrt.locking(self._fd, msvcrt.LK_NBLCK, 1)
        except FileNotFoundError:
            self._close()
            raise ConfigError(
                f"source folder {str(self.src_path)!r} does not exist: "
                "check the src_path / CSU_SRC setting and the volume mount"
            ) from None
        except BlockingIOError:
            self._close()
            raise LockedError(
                f"another agent is already uploading from {str(self.src_path)!r}; "
                "run only one agent per source folder (this one stops)"
            ) from None
        except OSError as error:
            self._close()
            raise LocalFileError(
                f"cannot lock the source folder {str(self.src_path)!r} "
                f"({error.strerror or type(error).__name__}): check that the agent's user "
                "may read it and that its filesystem supports locks"
            ) from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
