"""Server copies that a changed local file replaces are kept, never destroyed silently.

Like rsync's ``--backup-dir``: before a new version is renamed over a file, the server's
copy is kept under ``<dst>/.csu-replaced/<UTC time of the pass>/<its path>``, as a hard
link where the server makes them (the file stays in place until the new one replaces it
atomically), else moved there. At most one copy of a file is kept a day, so a file that
changes on every pass cannot fill the server's disk.

Names are also compared as a case- and normalization-insensitive server (an SMB share,
a NAS) compares them: ``A.bin`` and ``a.bin`` are one file there.
"""

from __future__ import annotations

import datetime
import posixpath
import unicodedata

from ..remote.api import Listing, Remote
from ..source.days import LocalFile

REPLACED_FOLDER = ".csu-replaced"
STAMP = "%Y%m%dT%H%M%SZ"


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
    """The server copies kept in the last day (paths relative to ``dst_path``), from one
    listing of the folder they are kept in, taken only when a copy is to be kept."""

    def __init__(self, remote: Remote, dst_path: str) -> None:
        self.remote, self.dst_path = remote, dst_path
        self._recent: set[str] | None = None

    def recent(self) -> set[str]:
        """Return (and remember, for this run) what was kept in the last day."""
        if self._recent is None:
            listing = self.remote.list_files(
                posixpath.join(self.dst_path, REPLACED_FOLDER), recursive=True
            )
            now = datetime.datetime.now(datetime.timezone.utc)
            since = (now - datetime.timedelta(days=1)).strftime(STAMP)
            self._recent = {
                relpath.split("/", 1)[1]
                for relpath in listing.files
                if "/" in relpath and relpath.split("/", 1)[0] >= since
            }
        return self._recent


def plan_aside(
    pairs: list[tuple[LocalFile, str]],
    listing: Listing,
    colliding: set[str],
    remote_root: str,
    replaced_folder: str,
    kept: KeptCopies,
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Given the (local file, final path) pairs to upload and the day's listing, return
    final path -> (server copy, where to keep it), and relpath -> server name for local
    names that match a server file only after case folding (they must never be removed).

    Names that collide locally are left out: their local copies stay anyway.
    """
    folded = {fold(relpath): relpath for relpath in listing.files}
    aside: dict[str, tuple[str, str]] = {}
    case_only: dict[str, str] = {}
    for local, final in pairs:
        if local.relpath in colliding:
            continue
        server_name = local.relpath if local.relpath in listing.files else None
        server_name = server_name or folded.get(fold(local.relpath))
        if server_name is None:
            continue
        if server_name != local.relpath:
            case_only[local.relpath] = server_name
        held = posixpath.join(remote_root, server_name)
        relative = posixpath.relpath(held, kept.dst_path)
        if relative in kept.recent():
            continue
        kept.recent().add(relative)
        aside[final] = (held, posixpath.join(replaced_folder, relative))
    return aside, case_only
