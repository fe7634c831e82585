"""A day's two sides compared by listing alone: what is synced, what must be proven by
checksum, what must go, and whether the day needs anything at all.

rsync's quick check: a file whose server copy has the local size and modification
time is synced without reading it. Server copies get the local time only once they are
proven by checksum, so a copy that merely arrived never passes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .local import LocalFile
from .remote.api import Listing


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
