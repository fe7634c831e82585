"""Upload the benchmark's day with this project's library API (verification on, removal off)."""

from __future__ import annotations

import datetime
import json
import sys

from circadian_scp_upload import DailyTransferClient, RemoteConnection, UploadClientCallbacks


def main() -> None:
    settings = json.loads(sys.argv[1])
    errors: list[str] = []
    callbacks = UploadClientCallbacks(log_info=lambda _m: None, log_error=errors.append)
    now = datetime.datetime(2024, 9, 20, 12, 0).astimezone()
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
            remove_files_after_upload=False,
            variant="directories",
            callbacks=callbacks,
            clock=lambda: now,
        ).run()
    if errors or not report.days or report.failed:
        sys.exit(f"upload failed: {errors[:3]}")


if __name__ == "__main__":
    main()
