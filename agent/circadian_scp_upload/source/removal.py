"""Removing local data: the riskiest thing the agent does, kept in one place.

Only files whose server copies were proven equal by checksum in this pass (and made
durable where the server can) reach here. Each goes without a window in which a writer
could slip a new version under it:

1. it is looked at again (size, modification and change times, inode): a file that
   changed since it was proven stays;
2. it is moved aside, in its own folder, under the agent's private name
   (``.csu-removing.<name>``): from then on nobody reaches it by its name, and a writer
   that renames a new version over the name creates a new file, which stays;
3. what was moved is looked at again (the same inode, size and time as the proven one)
   and asked whether anybody still holds it open (a write lease, which the kernel grants
   only when no other process has the file open): a writer that keeps its file open
   would lose what it writes after the removal;
4. only then is it unlinked; otherwise it is put back under its name (never over a file
   that took the name meanwhile) and kept, said so.

A failure to remove one file is reported, never raised (the others go on, and the file
is tried again on the next pass). A crash between steps 2 and 4 leaves the private name
behind; the next pass of that day puts it back (``recover_aside``) once the server holds
the very file under the original name.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .days import ASIDE_PREFIX, LocalFile

NAME_MAX_BYTES = 255
LEASE_HELD = (errno.EAGAIN, errno.EBUSY)  # another process has the file open
F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)  # Linux


def aside_name(name: str) -> str:
    """Given a file's name, return the private name it is moved to before its removal:
    ``.csu-removing.<name>``, or, where that would pass the 255 bytes a name may have,
    ``.csu-removing.<hash of the name>``."""
    candidate = ASIDE_PREFIX + name
    if len(os.fsencode(candidate)) <= NAME_MAX_BYTES:
        return candidate
    return ASIDE_PREFIX + hashlib.sha256(os.fsencode(name)).hexdigest()[:32]


def held_open(path: Path) -> bool | None:
    """Return whether another process holds ``path`` open: True or False, or None where
    this cannot be told (a filesystem without leases, such as NFS or SMB, or a file the
    agent's user does not own, which the kernel grants no lease on)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.fcntl(descriptor, F_SETLEASE, fcntl.F_WRLCK)
    except OSError as error:
        return True if error.errno in LEASE_HELD else None
    else:
        fcntl.fcntl(descriptor, F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(descriptor)


def _same(path: Path, local: LocalFile) -> bool:
    """Whether ``path`` is still the proven file: its inode, size and modification time
    (the move itself changed its change time)."""
    try:
        st = path.lstat()
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != local.size:
        return False
    return st.st_mtime_ns == local.mtime_ns and (not local.ino or st.st_ino == local.ino)


def put_back(aside: Path, original: Path) -> Path:
    """Put a file moved aside back under its name without replacing a file that took
    the name meanwhile; return where it is now (under a name beside it that says why,
    ``<name>.csu-kept-<time>``, when the name is taken)."""
    try:
        os.link(aside, original)  # fails if the name is taken: never replaces
    except FileExistsError:
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        kept = original.with_name(f"{original.name}.csu-kept-{stamp}")
        os.rename(aside, kept)
        return kept
    except OSError:  # no hard links here (FAT, exFAT, some network shares)
        if original.exists() or original.is_symlink():
            raise
        os.rename(aside, original)
        return original
    os.unlink(aside)
    return original


@dataclass
class Removal:
    """What a round of removal did: files removed, and those kept, by reason."""

    removed: int = 0
    changed: list[str] = field(default_factory=list)  # changed since they were proven
    held: list[str] = field(default_factory=list)  # a writer still has them open
    blocked: list[str] = field(default_factory=list)  # the private name is taken
    failed: list[str] = field(default_factory=list)  # messages of removals that failed
    unknown_open: bool = False  # whether open writers could not be looked for
    moved: list[tuple[str, str]] = field(default_factory=list)  # put back beside a newer one


def remove_one(local: LocalFile, removal: Removal) -> None:
    """Remove one proven local file without a window (the module's steps 1-4), adding
    the outcome to ``removal``."""
    if not local.unchanged():
        if local.path.exists():
            removal.changed.append(local.relpath)
        return
    aside = local.path.with_name(aside_name(local.path.name))
    if aside.exists() or aside.is_symlink():
        removal.blocked.append(local.relpath)
        return
    try:
        os.rename(local.path, aside)
    except FileNotFoundError:
        return
    except OSError as failure:
        removal.failed.append(f"could not remove {local.relpath!r}: {failure.strerror}")
        return
    holder = held_open(aside)
    if _same(aside, local) and holder is not True:
        try:
            aside.unlink()
        except OSError as failure:
            removal.failed.append(f"could not remove {local.relpath!r}: {failure.strerror}")
        else:
            removal.removed += 1
            removal.unknown_open = removal.unknown_open or holder is None
            return
    (removal.held if holder else removal.changed).append(local.relpath)
    try:
        where = put_back(aside, local.path)
    except OSError as failure:
        removal.failed.append(
            f"{local.relpath!r} is kept as {aside.name!r}: it could not be put back under "
            f"its name ({failure.strerror}); rename it back by hand"
        )
        return
    if where != local.path:
        removal.moved.append((local.relpath, where.name))


def remove_files(
    files: list[LocalFile], info: Callable[[str], None], error: Callable[[str], None]
) -> int:
    """Remove local files whose server copies are verified; return how many went.

    Each is removed without a window (see the module); one that changed since it was
    proven, or that a writer still holds open, is kept and said so (it is uploaded again
    on the next pass). A file already gone counts as nothing; one that cannot be removed
    is reported.
    """
    removal = Removal()
    for local in files:
        remove_one(local, removal)
    for message in removal.failed:
        error(message)
    if removal.changed:
        error(
            f"{len(removal.changed)} file(s) changed after they were verified, e.g. "
            f"{removal.changed[0]!r}: kept locally; they are uploaded again on the next pass"
        )
    if removal.held:
        error(
            f"{len(removal.held)} file(s) are still open in a writer, e.g. "
            f"{removal.held[0]!r}: kept locally, so nothing it writes later is lost; they "
            "are uploaded again once it lets them go"
        )
    if removal.blocked:
        error(
            f"{len(removal.blocked)} file(s) cannot be removed safely, e.g. "
            f"{removal.blocked[0]!r}: a file of the agent's private name for it "
            f"({ASIDE_PREFIX}...) is in the way; rename or remove that file"
        )
    for relpath, kept in removal.moved:
        error(
            f"{relpath!r} changed while it was being removed and a newer file took its "
            f"name: the earlier one is kept beside it as {kept!r}"
        )
    if files:
        info(f"removed {removal.removed} local files (their server copies are verified)")
    if removal.unknown_open:
        info(
            "whether a writer still held a file open could not be checked (the "
            "filesystem has no leases, or the agent's user does not own the files): run "
            "the agent as the data's owner on a local filesystem for that check"
        )
    return removal.removed


def recover_aside(
    files: list[LocalFile], server: Mapping[str, tuple[int, int | None]]
) -> list[str]:
    """Put back the files a crash left under the private name (step 2 of the module),
    where that is provably what they are: the original name is free locally and the
    server holds a file of that name with the same size and modification time (which
    the server's copy gets only once proven). ``server``: relpath -> (size, mtime) of
    the day on the server. Return the relpaths put back; other files of such a name are
    left as they are (data like any other)."""
    local = {f.relpath for f in files}
    back = []
    for item in files:
        folder, _, name = item.relpath.rpartition("/")
        if not name.startswith(ASIDE_PREFIX):
            continue
        prefix = f"{folder}/" if folder else ""
        for relpath, (size, mtime) in server.items():
            head, _, original = relpath.rpartition("/")
            if head != folder or aside_name(original) != name or relpath in local:
                continue
            if size == item.size and mtime == item.mtime:
                with contextlib.suppress(OSError):
                    put_back(item.path, item.path.with_name(original))
                    back.append(prefix + original)
            break
    return back


def remove_empty_tree(root: Path) -> None:
    """Remove empty folders below and including ``root``; anything non-empty stays."""
    if not root.is_dir() or root.is_symlink():
        return
    for folder, _dirs, _files in sorted(os.walk(root, topdown=False), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
