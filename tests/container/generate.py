"""Generate instrument data for the container tests, relative to today's date (UTC).

Areas under /data, each uploaded by its own job in docker-compose.test.yml:
  dirs/    day folders with subfolders        (shell user, removal on)
  files/   dated files, 2 per day, plus noise (shell user, removal off)
  sftp/    day folders                        (SFTP-only user, removal on)
  restart/ one past day with a larger file    (the server-restart scenario)
Past days are yesterday and the three days before it; today and tomorrow are not ready
yet. AREAS (comma-separated, default all four) picks the areas to generate.
The expected outcome is written to /data/manifest.json.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
from pathlib import Path

DATA = Path(os.environ.get("DATA_DIR", "/data"))
MANIFEST = DATA / "manifest.json"
RESTART_MIB = int(os.environ.get("RESTART_MIB", "24"))
AREAS = os.environ.get("AREAS", "dirs,files,sftp,restart").split(",")
TODAY = datetime.datetime.now(datetime.timezone.utc).date()
PAST = [TODAY - datetime.timedelta(days=n) for n in (4, 3, 2, 1)]
NOT_YET = [TODAY, TODAY + datetime.timedelta(days=1)]


def write(
    path: Path, content: bytes, manifest: dict[str, str], day: datetime.date | None = None
) -> None:
    """Write a file; a past day's file gets a time its instrument would have given it
    (midday of that day: quiet since, as a real station's day is, whatever time of day
    the test runs; the end of the day would still be inside the quiet period just after
    midnight)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if day is not None and day < TODAY:
        moment = datetime.datetime.combine(day, datetime.time(12, 0), datetime.timezone.utc)
        os.utime(path, (moment.timestamp(), moment.timestamp()))
    manifest[path.relative_to(DATA).as_posix()] = hashlib.sha256(content).hexdigest()


def main() -> None:
    files: dict[str, str] = {}
    for day in PAST + NOT_YET:
        stamp = day.strftime("%Y%m%d")
        for area in ("dirs", "sftp"):
            if area in AREAS:
                write(DATA / area / stamp / "spectrum.dat", os.urandom(300_000), files, day)
                log = DATA / area / stamp / "logs" / "run 1; $(x).log"
                write(log, stamp.encode() * 10, files, day)
        if "files" in AREAS:
            write(DATA / "files" / f"{stamp}-a.txt", os.urandom(20_000), files, day)
            write(DATA / "files" / f"{stamp}-b.txt", os.urandom(10_000), files, day)
    if "files" in AREAS:
        write(DATA / "files" / "README.txt", b"not dated", files)
    if "restart" in AREAS:
        stamp = PAST[-1].strftime("%Y%m%d")
        big = os.urandom(RESTART_MIB * 1024 * 1024)
        write(DATA / "restart" / stamp / "big.bin", big, files, PAST[-1])
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(
        json.dumps(
            {
                "areas": AREAS,
                "past": [d.strftime("%Y%m%d") for d in PAST],
                "not_yet": [d.strftime("%Y%m%d") for d in NOT_YET],
                "files": files,
            },
            indent=1,
        )
    )
    print(
        f"generated {len(files)} files for {len(PAST)} past days and today/tomorrow",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
