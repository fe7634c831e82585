"""The fault suite's data sets and its checks of both sides, byte for byte."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tests.faults.ledger import LEDGER, Ledger

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


def intact(path: Path, expected: Original) -> bool:
    """Return whether ``path`` holds exactly the expected content."""
    return (
        path.is_file()
        and path.stat().st_size == expected.size
        and digest(path) == (expected.sha256)
    )


def check_invariants(
    original: dict[str, Original], src: Path, dst: Path, ledger: Ledger = LEDGER
) -> None:
    """Assert what must hold at every moment, even right after a kill -9.

    No local file is gone unless the server holds a verified copy, and every file under
    its final name on the server is complete and correct (nothing partial is ever there).
    A file that exists nowhere intact is counted as lost before anything is asserted.
    """
    problems = []
    for relpath, expected in original.items():
        local, remote = src / relpath, dst / relpath
        remote_ok = intact(remote, expected)
        if not remote_ok and not intact(local, expected):
            ledger.lose(str(remote), expected.size)
        if remote.exists() and not remote_ok:
            problems.append(f"wrong content under a final name: {relpath}")
        if not local.exists() and not remote_ok:
            problems.append(f"local file removed before the server held it: {relpath}")
    assert not problems, problems


def check_final(
    original: dict[str, Original],
    src: Path,
    dst: Path,
    removed: set[str],
    ledger: Ledger = LEDGER,
) -> None:
    """Assert the complete final state and record it in the ledger.

    Every file is on the server with the right content; exactly the files in
    ``removed`` are gone locally, the rest are intact; no leftovers on either side.
    What the ledger sees is counted first (a file intact nowhere is lost), then
    asserted, so a loss always shows in the summary.
    """
    problems = []
    for relpath, expected in original.items():
        local, remote = src / relpath, dst / relpath
        remote_ok, local_ok = intact(remote, expected), intact(local, expected)
        if not remote_ok and not local_ok:
            ledger.lose(str(remote), expected.size)
        if not remote_ok:
            problems.append(f"missing or wrong on the server: {relpath}")
            continue
        if relpath in removed and local.exists():
            problems.append(f"not removed locally: {relpath}")
        if relpath not in removed and not local_ok:
            problems.append(f"local copy changed: {relpath}")
        ledger.files_verified += 1
        ledger.bytes_verified += expected.size
    left = leftovers(src, dst)
    ledger.leftovers += len(left)
    assert not problems, problems
    assert left == [], left
