"""The one translator of local file failures: an ``OSError`` on the station's disk
becomes a ``LocalFileError`` that names the path, the cause and what to check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LocalFileError


@contextmanager
def local_io(action: str, path: Path) -> Iterator[None]:
    """Turn an ``OSError`` on a local path into a ``LocalFileError`` naming the path."""
    try:
        yield
    except OSError as error:
        raise LocalFileError(
            f"cannot {action} {str(path)!r} ({error.strerror or type(error).__name__}): "
            "check the disk, the permissions, and that the agent runs as the data's owner; "
            "it is tried again next pass"
        ) from None
