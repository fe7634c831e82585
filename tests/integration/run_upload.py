"""Run one upload through the library API in its own process (so a test can SIGKILL it,
and the benchmark can time it): argv[1] is JSON settings. Exits non-zero unless every
ready day was uploaded and verified. With ``"report": true`` it prints, as its last line,
JSON with the bytes this process read (``/proc/self/io`` rchar) during the run itself."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from circadian_scp_upload import DailyTransferClient, RemoteConnection, UploadClientCallbacks


def main() -> None:
    settings = json.loads(sys.argv[1])
    now = datetime.datetime.fromisoformat(settings["now"]).astimezone()
    errors: list[str] = []
    quiet = settings.get("quiet", False)
    callbacks = UploadClientCallbacks(
        log_info=(lambda _m: None) if quiet else (lambda m: print(f"INFO - {m}")),
        log_error=errors.append,
    )
    with RemoteConnection(
        "127.0.0.1",
        settings["user"],
        port=settings["port"],
        key_filename=settings["key_file"],
        known_hosts_file=settings["known_hosts"],
        allow_agent=False,
    ) as connection:
        read_before = bytes_read()
        report = DailyTransferClient(
            remote_connection=connection,
            src_path=settings["src"],
            dst_path=settings["dst"],
            remove_files_after_upload=settings["remove"],
            variant="directories",
            callbacks=callbacks,
            clock=lambda: now,
            channels=settings.get("channels", 0),
        ).run()
        read_during = bytes_read() - read_before
    if errors or not report.days or report.failed:
        sys.exit(f"upload failed: {errors[:3]}")
    if settings.get("report"):
        print(json.dumps({"read_bytes": read_during}))


def bytes_read() -> int:
    """Return the bytes this process has read through read() calls so far (any file)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
