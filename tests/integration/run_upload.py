"""Run one upload in its own process (so a test can SIGKILL it): argv[1] is JSON settings."""

from __future__ import annotations

import datetime
import json
import sys

from circadian_scp_upload import DailyTransferClient, RemoteConnection, UploadClientCallbacks


def main() -> None:
    settings = json.loads(sys.argv[1])
    now = datetime.datetime.fromisoformat(settings["now"]).astimezone()
    with RemoteConnection(
        "127.0.0.1",
        settings["user"],
        port=settings["port"],
        key_filename=settings["key_file"],
        known_hosts_file=settings["known_hosts"],
        allow_agent=False,
    ) as connection:
        DailyTransferClient(
            remote_connection=connection,
            src_path=settings["src"],
            dst_path=settings["dst"],
            remove_files_after_upload=settings["remove"],
            variant="directories",
            callbacks=UploadClientCallbacks(),
            clock=lambda: now,
        ).run()


if __name__ == "__main__":
    main()
