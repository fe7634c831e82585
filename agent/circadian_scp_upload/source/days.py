"""The days on the station's disk: which days the source folder holds, their files, and
checksums of their content.

Policy for things that are not regular files (documented in docs/behaviour.md): symlinks,
sockets, FIFOs and devices are never followed, never uploaded and never removed; each
is reported once per run and the rest of its day is uploaded. Because they stay, a day
folder holding one is kept after removal of the uploaded files.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import ConfigError
from .localio import local_io
from .markers import MARKER_NAME
from .patterns import DatedPattern

HASH_CHUNK_BYTES = 1024 * 1024
ASIDE_PREFIX = ".csu-removing."  # removal.py's private name for a file on its way out
Variant = Literal["directories", "files"]


@dataclass(frozen=True)
class LocalFile:
    """A regular file of a day: its path relative to the day's root ('/' separated), and
    what identifies its content without reading it (size, modification time; the inode
    and change time where screening saw them)."""

    relpath: str
    path: Path
    size: int
    mtime_ns: int
    ino: int = 0
    ctime_ns: int = 0

    @property
    def mtime(self) -> int:
        """The modification time in whole seconds, as SFTP carries it."""
        return self.mtime_ns // 1_000_000_000

    def unchanged(self) -> bool:
        """Return whether the file is still the one seen at screening: its size and
        modification time, and (where known) its inode and change time, which also move
        on a rewrite within one tick of a coarse clock (FAT, SMB) or a rename over it."""
        try:
            st = self.path.lstat()
        except OSError:
            return False
        if st.st_size != self.size or st.st_mtime_ns != self.mtime_ns:
            return False
        return not self.ino or (st.st_ino == self.ino and st.st_ctime_ns == self.ctime_ns)


@dataclass
class DayUnit:
    """One day to upload: its date, local root folder, and the names it covers.

    For the ``directories`` variant ``names`` is the one dated folder; for ``files``
    it is the dated files of that date, all directly in ``root``.
    """

    date: datetime.date
    variant: Variant
    root: Path
    names: list[str]
    skipped: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    shares_date: bool = False  # another day folder has the same date

    @property
    def label(self) -> str:
        """The day as log lines name it: its date, and its folder where dates repeat."""
        date = self.date.isoformat()
        return f"{date} ({self.names[0]!r})" if self.shares_date else date

    def remote_root(self, dst_path: str) -> str:
        """Given the remote base folder, return the remote folder of this day."""
        if self.variant == "directories":
            return dst_path.rstrip("/") + "/" + self.names[0]
        return dst_path.rstrip("/") or "/"

    def local_root(self) -> Path:
        """Return the local folder the day's relative paths start from."""
        return self.root / self.names[0] if self.variant == "directories" else self.root

    def list_files(self) -> list[LocalFile]:
        """Return the day's regular files, sorted; fills ``skipped`` with what is left out.

        Raises ``LocalFileError`` if a folder of the day cannot be listed.
        """
        self.skipped, self.folders = [], []
        if self.variant == "files":
            found = (self._entry(name, self.root / name) for name in self.names)
            return sorted((f for f in found if f is not None), key=lambda f: f.relpath)
        with local_io("list the local folder", self.local_root()):
            return sorted(self._walk(self.local_root(), ""), key=lambda f: f.relpath)

    def _walk(self, folder: Path, prefix: str) -> Iterator[LocalFile]:
        with os.scandir(folder) as entries:
            for entry in entries:
                relpath = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    self.folders.append(relpath)
                    yield from self._walk(Path(entry.path), relpath + "/")
                elif relpath != MARKER_NAME:
                    found = self._entry(relpath, Path(entry.path))
                    if found is not None:
                        yield found

    def _entry(self, relpath: str, path: Path) -> LocalFile | None:
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            self.skipped.append(relpath)
            return None
        return LocalFile(relpath, path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def find_days(
    src_path: Path,
    variant: Variant,
    pattern: DatedPattern,
    on_ambiguous: Callable[[str, tuple[datetime.date, ...]], None],
    on_misfit: Callable[[str], None] | None = None,
) -> list[DayUnit]:
    """Given the source folder, variant and pattern, return its dated days, oldest first.

    Names that do not match are ignored; ambiguous names are reported through
    ``on_ambiguous`` and skipped; dated names of the wrong kind (a file where the
    ``directories`` variant expects a folder, a link) through ``on_misfit``. Raises
    ConfigError if the source folder is unusable.
    """
    if not src_path.is_dir():
        raise ConfigError(
            f"source folder {str(src_path)!r} does not exist or is not a folder: "
            "check the src_path / CSU_SRC setting and the volume mount"
        )
    days: dict[datetime.date, DayUnit] = {}
    folders: list[DayUnit] = []  # directories: each dated folder is its own unit
    with local_io("list the local folder", src_path):
        entries = sorted(os.scandir(src_path), key=lambda e: e.name)
    for entry in entries:
        is_dir = entry.is_dir(follow_symlinks=False)
        wanted = is_dir if variant == "directories" else entry.is_file(follow_symlinks=False)
        if not wanted:
            stray = entry.is_symlink() or (variant == "directories" and not is_dir)
            if stray and on_misfit is not None and pattern.parse(entry.name).date is not None:
                on_misfit(entry.name)
            continue
        parsed = pattern.parse(entry.name)
        if parsed.date is None and not is_dir and entry.name.startswith(ASIDE_PREFIX):
            # a dated file a crash left under the removal's private name: its day's
            parsed = pattern.parse(entry.name[len(ASIDE_PREFIX) :])
        if parsed.ambiguous:
            on_ambiguous(entry.name, parsed.ambiguous)
            continue
        if parsed.date is None:
            continue
        if is_dir:
            folders.append(DayUnit(parsed.date, variant, src_path, [entry.name]))
        else:
            days.setdefault(parsed.date, DayUnit(parsed.date, variant, src_path, []))
            days[parsed.date].names.append(entry.name)
    if variant == "directories":
        # Two folders of one date (20240917 and 20240917-rerun) are both uploaded, each to
        # its own remote folder, and their log lines name the folder.
        dates = [unit.date for unit in folders]
        for unit in folders:
            unit.shares_date = dates.count(unit.date) > 1
        return sorted(folders, key=lambda unit: (unit.date, unit.names[0]))
    return [days[d] for d in sorted(days)]


def sha256_file(path: Path, poll: Callable[[], None] = lambda: None) -> str:
    """Given a path, return the hex SHA-256 of its content, read in bounded chunks.

    ``poll`` is called after every chunk (it may raise to stop a long hash).
    """
    digest = hashlib.sha256()
    with local_io("read the local file", path), path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            poll()
    return digest.hexdigest()


def fingerprint(files: list[LocalFile]) -> list[int]:
    """Return what identifies a day's local content without reading it: the number of
    files, their bytes, and the latest modification time (ns)."""
    return [len(files), sum(f.size for f in files), max((f.mtime_ns for f in files), default=0)]
