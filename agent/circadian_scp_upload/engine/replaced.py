"""Server copies that a changed local file replaces are kept, every one, never destroyed.

Like rsync's ``--backup-dir``: before a new version is renamed over a file, the server's
copy is kept under ``<dst>/.csu-replaced/<UTC time of the pass>/<its path>``, as a hard
link where the server makes them (the file stays in place until the new one replaces it
atomically), else moved there. With local removal on, the server's copy is the only
copy of that version: none is ever overwritten. A file that keeps changing after its
day ended (a late writer) fills the server's disk visibly instead: from
``MANY_VERSIONS`` versions of one file kept within a day on, each pass says so in a
warning, and the count of kept copies is in the status and the metrics
(``csu_replaced_kept_total``). Pruning is the operator's decision (OPERATOR.md).

Names are also compared as a case- and normalization-insensitive server (an SMB share,
a NAS) compares them: ``A.bin`` and ``a.bin`` are one file there. A local name that
matches a server file only that way is never removed locally, whether or not copies
are kept.
"""

from __future__ import annotations

import datetime
import posixpath
import unicodedata
from collections import Counter

from ..remote.api import Listing, Remote
from ..source.days import LocalFile

REPLACED_FOLDER = ".csu-replaced"
STAMP = "%Y%m%dT%H%M%S.%fZ"  # microseconds: two passes in one second keep apart
MANY_VERSIONS = 3  # kept within a day, from this many on a pass warns


def pass_stamp(now: datetime.datetime) -> str:
    """Return the name of a pass's folder under ``.csu-replaced`` (UTC, microseconds)."""
    return now.astimezone(datetime.timezone.utc).strftime(STAMP)


def fold(relpath: str) -> str:
    """Return the name a case- and normalization-insensitive server would see."""
    return unicodedata.normalize("NFC", relpath).casefold()


def colliding_names(files: list[LocalFile]) -> set[str]:
    """Return the relative paths that equal another one after case folding and Unicode
    normalization (``A.bin`` and ``a.bin``; an ``\u00e9`` composed and decomposed)."""
    groups: dict[str, list[str]] = {}
    for local in files:
        groups.setdefault(fold(local.relpath), []).append(local.relpath)
    return {relpath for group in groups.values() if len(group) > 1 for relpath in group}


class KeptCopies:
    """How many copies of each path (relative to ``dst_path``) were kept in the last day,
    from one listing of the folder they are kept in, taken only when a copy is kept."""

    def __init__(self, remote: Remote, dst_path: str) -> None:
        self.remote, self.dst_path = remote, dst_path
        self._recent: Counter[str] | None = None

    def recent(self) -> Counter[str]:
        """Return (and remember, for this run) path -> copies kept in the last day."""
        if self._recent is None:
            listing = self.remote.list_files(
                posixpath.join(self.dst_path, REPLACED_FOLDER), recursive=True
            )
            since = pass_stamp(
                datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
            )
            self._recent = Counter(
                relpath.split("/", 1)[1]
                for relpath in listing.files
                if "/" in relpath and relpath.split("/", 1)[0] >= since
            )
        return self._recent


def case_only_matches(
    pairs: list[tuple[LocalFile, str]], listing: Listing, colliding: set[str]
) -> dict[str, str]:
    """Given the (local file, final path) pairs to upload and the day's listing, return
    relpath -> server name for local names that match a server file only after case
    folding (such files must never be removed locally). Names that collide locally are
    left out: their local copies stay anyway."""
    folded = {fold(relpath): relpath for relpath in listing.files}
    found: dict[str, str] = {}
    for local, _final in pairs:
        if local.relpath in colliding or local.relpath in listing.files:
            continue
        server_name = folded.get(fold(local.relpath))
        if server_name is not None:
            found[local.relpath] = server_name
    return found


def plan_aside(
    pairs: list[tuple[LocalFile, str]],
    listing: Listing,
    colliding: set[str],
    remote_root: str,
    replaced_folder: str,
    dst_path: str,
) -> dict[str, tuple[str, str]]:
    """Given the (local file, final path) pairs to upload and the day's listing, return
    final path -> (server copy, where to keep it) for every server copy a new version
    replaces, under its exact or its case-folded name."""
    folded = {fold(relpath): relpath for relpath in listing.files}
    aside: dict[str, tuple[str, str]] = {}
    for local, final in pairs:
        if local.relpath in colliding:
            continue
        server_name = local.relpath if local.relpath in listing.files else None
        server_name = server_name or folded.get(fold(local.relpath))
        if server_name is None:
            continue
        held = posixpath.join(remote_root, server_name)
        relative = posixpath.relpath(held, dst_path)
        aside[final] = (held, posixpath.join(replaced_folder, relative))
    return aside
