"""The fault suite's data sets and its checks of both sides, byte for byte."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tests.faults.ledger import LEDGER

MARKER = ".do-not-touch"
PARTIAL_SUFFIX = ".csu-partial"


@dataclass(frozen=True)
class Original:
    """A file as it was generated: its checksum and size."""

    sha256: str
    size: int


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def make_files(root: Path, files: dict[str, int]) -> dict[str, Original]:
    """Write random files (relative path -> size) below ``root``; return what was written."""
    written = {}
    for relpath, size in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        content = os.urandom(size)
        path.write_bytes(content)
        written[relpath] = Original(hashlib.sha256(content).hexdigest(), size)
    return written


def leftovers(*roots: Path) -> list[Path]:
    """Return markers and temporary files below the roots."""
    return [
        path
        for root in roots
        for path in root.rglob("*")
        if path.name == MARKER or path.name.endswith(PARTIAL_SUFFIX)
    ]


def check_invariants(original: dict[str, Original], src: Path, dst: Path) -> None:
    """Assert what must hold at every moment, even right after a kill -9.

    No local file is gone unless the server holds a verified copy, and every file under
    its final name on the server is complete and correct (nothing partial is ever there).
    """
    for relpath, expected in original.items():
        local, remote = src / relpath, dst / relpath
        if remote.exists():
            assert digest(remote) == expected.sha256, f"wrong content under a final name: {relpath}"
        if not local.exists():
            assert remote.exists(), f"local file removed before the server held it: {relpath}"


def check_final(original: dict[str, Original], src: Path, dst: Path, removed: set[str]) -> None:
    """Assert the complete final state and record it in the ledger.

    Every file is on the server with the right content; exactly the files in
    ``removed`` are gone locally, the rest are intact; no leftovers on either side.
    """
    lost = 0
    for relpath, expected in original.items():
        remote = dst / relpath
        if not remote.exists() or digest(remote) != expected.sha256:
            if not (src / relpath).exists():
                lost += expected.size
            raise AssertionError(f"missing or wrong on the server: {relpath}")
        if relpath in removed:
            assert not (src / relpath).exists(), f"not removed locally: {relpath}"
        else:
            assert digest(src / relpath) == expected.sha256, f"local copy changed: {relpath}"
        LEDGER.files_verified += 1
        LEDGER.bytes_verified += expected.size
    LEDGER.bytes_lost += lost
    left = leftovers(src, dst)
    LEDGER.leftovers += len(left)
    assert left == [], left
