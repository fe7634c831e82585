"""A day's two sides compared by listing alone: what is synced, what must be proven by
checksum, what must go, and whether the day needs anything at all.

rsync's quick check: a file whose server copy has the local size and modification
time is synced without reading it. Server copies get the local time only once they are
proven by checksum, so a copy that merely arrived never passes it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from loguru import logger

from ..errors import CircadianError, TransientError
from ..remote.api import Listing, Remote
from ..source.days import LocalFile


@dataclass
class Comparison:
    """Local files against the server's: what is synced, what is proven, what must go."""

    quick: set[str]  # same size and modification time on the server: synced, not read
    proven: dict[str, str]  # relpath -> SHA-256 that matched on both sides in this pass
    unsynced: list[LocalFile]  # missing or different on the server
    to_prove: list[LocalFile]  # same size, but another time (or no quick check): read both

    @property
    def synced(self) -> set[str]:
        """Every relpath that is on the server unchanged."""
        return self.quick | set(self.proven)


def compare(files: list[LocalFile], listing: Listing, full: bool, window: int = 0) -> Comparison:
    """Given local files and the server's listing, sort the files without reading any:
    ``full`` (checksum mode, or removal ahead) leaves every present file to be proven;
    ``window``: seconds two modification times may differ and still match."""
    quick: set[str] = set()
    unsynced: list[LocalFile] = []
    to_prove: list[LocalFile] = []
    for local in files:
        entry = listing.files.get(local.relpath)
        if entry is None or entry.size != local.size:
            unsynced.append(local)
        elif full or entry.mtime is None or abs(entry.mtime - local.mtime) > window:
            to_prove.append(local)
        else:
            quick.add(local.relpath)
    return Comparison(quick, {}, unsynced, to_prove)


@dataclass
class Assessment:
    """A day's two sides, compared by listing alone: what a pass must do to it."""

    files: list[LocalFile]
    listing: Listing
    compared: Comparison
    folders: list[str]  # remote folders to create
    leftovers: list[str]  # what an interrupted run left on the server
    stale_local: bool  # a local marker an interrupted run left
    remove: bool  # local files are to be removed once proven

    @property
    def needs_work(self) -> bool:
        """Whether the day needs anything at all (else it is idle: nothing touched)."""
        compared = self.compared
        return bool(
            compared.unsynced
            or compared.to_prove
            or self.folders
            or self.leftovers
            or self.stale_local
            or (self.remove and (self.files or self.folders))
        )


class ServerTimes:
    """Gives proven server copies the local modification time, and learns once per run
    whether the server keeps it: a FAT or exFAT disk keeps it to 2 s (then compared with
    that window); a server that ignores it costs a checksum of every file on every pass,
    said once."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.window = 0  # seconds two modification times may differ and still match
        self.checked = False

    def give(
        self, root: str, compared: Comparison, listing: Listing, uploaded: list[LocalFile]
    ) -> None:
        """Give every copy proven equal in this pass the local time: files just uploaded,
        copies from an older version, touched files. Only proven copies get it: a copy
        that merely arrived must never pass a later quick check."""
        sent = {f.relpath for f in uploaded}
        files = [
            f
            for f in [*compared.to_prove, *uploaded]
            if f.relpath in compared.proven
            and (f.relpath in sent or listing.files[f.relpath].mtime != f.mtime)
        ]
        times = [(posixpath.join(root, f.relpath), f.mtime) for f in files]
        try:
            self.remote.set_mtimes(times)
        except CircadianError as error:
            if isinstance(error, TransientError):
                raise
            logger.warning(
                "{} does not let modification times be set ({}): unchanged files are "
                "compared by checksum on every pass",
                self.remote.where,
                error,
            )
            return
        if times and not self.checked:
            self._check(*times[0])

    def _check(self, path: str, wanted: int) -> None:
        self.checked = True
        entry = self.remote.stat(path)
        kept = entry.mtime if entry is not None else None
        if kept is None or abs(kept - wanted) > 2:
            logger.warning(
                "{} does not keep modification times (set {}, got {}): unchanged files are "
                "compared by checksum on every pass",
                self.remote.where,
                wanted,
                kept,
            )
        elif kept != wanted:
            logger.info("{} keeps modification times to 2 s (a FAT disk?)", self.remote.where)
            self.window = 2
