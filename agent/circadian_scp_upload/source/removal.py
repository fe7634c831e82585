"""Removing local data: the riskiest thing the agent does, kept in one place.

Only files whose server copies were proven equal by checksum in this pass (and made
durable where the server can) reach here; each is checked again right before it goes,
removed on its own, and a failure to remove one is reported, never raised (the others
go on, and the file is tried again on the next pass).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from .days import LocalFile


def remove_empty_tree(root: Path) -> None:
    """Remove empty folders below and including ``root``; anything non-empty stays."""
    if not root.is_dir() or root.is_symlink():
        return
    for folder, _dirs, _files in sorted(os.walk(root, topdown=False), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def remove_files(
    files: list[LocalFile], info: Callable[[str], None], error: Callable[[str], None]
) -> int:
    """Remove local files whose server copies are verified; return how many went.

    Each file is looked at again right before its removal: one whose size or
    modification time changed since it was screened (and hashed) is kept, and said so
    (a writer still at work: it is uploaded again on the next pass). A file already
    gone counts as nothing; one that cannot be removed is reported.
    """
    removed = 0
    changed = []
    for local in files:
        if not local.unchanged():
            if local.path.exists():
                changed.append(local.relpath)
            continue
        try:
            local.path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as failure:
            error(f"could not remove {local.relpath!r} after upload: {failure.strerror}")
    if changed:
        error(
            f"{len(changed)} file(s) changed after they were verified, e.g. {changed[0]!r}: "
            "kept locally; they are uploaded again on the next pass"
        )
    if files:
        info(f"removed {removed} local files (their server copies are verified)")
    return removed
