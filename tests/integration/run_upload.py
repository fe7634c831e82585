"""Run one upload through the library API in its own process (so a test can SIGKILL it,
and the benchmark can time it): argv[1] is JSON settings. Exits non-zero unless every
ready day was uploaded and verified."""

from __future__ import annotations

import datetime
import json
import sys

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
        report = DailyTransferClient(
            remote_connection=connection,
            src_path=settings["src"],
            dst_path=settings["dst"],
            remove_files_after_upload=settings["remove"],
            variant="directories",
            callbacks=callbacks,
            clock=lambda: now,
        ).run()
    if errors or not report.days or report.failed:
        sys.exit(f"upload failed: {errors[:3]}")


if __name__ == "__main__":
    main()
