"""Check the outcome of docker-compose.test.yml: exit 0 if every expectation holds.

- every file of every past day is on the server, byte for byte (SHA-256);
- today and tomorrow stayed local and never reached the server;
- local removal happened exactly where configured (dirs, sftp, restart: yes; files: no);
- no .do-not-touch marker and no .csu-partial file is left on either side.
Only the areas generate.py made are checked. If midnight (UTC) passed since the data was
generated, the day that was today then may or may not have been uploaded: it is skipped.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
from pathlib import Path

DATA = Path(os.environ.get("DATA_DIR", "/data"))
SERVER = Path(os.environ.get("SERVER_DIR", "/srv/upload"))
MANIFEST = DATA / "manifest.json"
# area -> (folder on the server, whether local files are removed after upload)
AREAS = {
    "dirs": ("station/dirs", True),
    "files": ("station/files", False),
    "sftp": ("sftponly/sftp", True),
    "restart": ("station/restart", True),
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def day_of(relpath: str) -> str:
    return relpath.split("/")[1][:8]


def main() -> int:
    manifest = json.loads(MANIFEST.read_text())
    past, problems, checked, checked_bytes = set(manifest["past"]), [], 0, 0
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    crossed = {day for day in manifest["not_yet"] if day < today}
    for day in sorted(crossed):
        print(f"note: {day} became a past day during the run (midnight UTC); not checked")
    for relpath, expected in manifest["files"].items():
        area, rest = relpath.split("/", 1)
        if area not in AREAS or relpath.endswith("README.txt") or day_of(relpath) in crossed:
            continue
        remote_folder, removes = AREAS[area]
        remote = SERVER / remote_folder / rest
        local = DATA / relpath
        if day_of(relpath) in past:
            if not remote.is_file() or sha256(remote) != expected:
                problems.append(f"missing or different on the server: {relpath}")
            else:
                checked += 1
                checked_bytes += remote.stat().st_size
            if removes == local.exists():
                problems.append(f"local copy {'kept' if local.exists() else 'removed'}: {relpath}")
        else:
            if remote.exists():
                problems.append(f"not-ready day reached the server: {relpath}")
            if not local.is_file() or sha256(local) != expected:
                problems.append(f"not-ready day changed locally: {relpath}")
    if "files" in manifest.get("areas", AREAS) and not (DATA / "files" / "README.txt").is_file():
        problems.append("an undated file was touched: files/README.txt")
    for root in (DATA, SERVER):
        for path in root.rglob("*"):
            if path.name == ".do-not-touch" or path.name.endswith(".csu-partial"):
                problems.append(f"leftover: {path}")
    if checked == 0:
        problems.append("no file of a past day was checked")
    for problem in problems:
        print(f"FAIL {problem}")
    print(
        f"verified {checked} files ({checked_bytes} bytes) on the server; {len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
