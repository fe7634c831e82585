"""A day's procedure (day.py, client.py) end to end against the in-memory transport."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from circadian_scp_upload import DailyTransferClient, UploadClientCallbacks
from circadian_scp_upload.errors import RemotePathError
from circadian_scp_upload.remote.api import CommandResult, ServerTraits
from tests.unit.fake_remote import SFTP_ONLY_TRAITS, MemoryRemote

NOW = datetime.datetime(2024, 9, 20, 12, 0, tzinfo=datetime.timezone.utc)


def make_days(src: Path) -> dict[str, bytes]:
    written = {}
    for day in ("20240917", "20240918", "20240920"):
        for name, size in (("small.txt", 100), ("sub/large.bin", 300_000)):
            content = os.urandom(size)
            path = src / day / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            written[f"{day}/{name}"] = content
    return written


def run(remote: MemoryRemote, src: Path, remove: bool) -> tuple[list[str], list[str], object]:
    info: list[str] = []
    errors: list[str] = []
    callbacks = UploadClientCallbacks(log_info=info.append, log_error=errors.append)
    report = DailyTransferClient(
        remote_connection=remote,
        src_path=src,
        dst_path="/srv",
        remove_files_after_upload=remove,
        callbacks=callbacks,
        timezone="UTC",
        clock=lambda: NOW,
    ).run()
    return info, errors, report


def test_past_days_arrive_verified_and_are_removed_today_stays(tmp_path: Path) -> None:
    written = make_days(tmp_path)
    remote = MemoryRemote()
    info, errors, _report = run(remote, tmp_path, remove=True)
    assert errors == []
    past = {k: v for k, v in written.items() if not k.startswith("20240920")}
    assert remote.files == {f"/srv/{k}": v for k, v in past.items()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240920"]
    assert "2024-09-17: found 0 synced files and 2 unsynced files" in info
    assert "2024-09-17: checksums of all 2 files match" in info
    assert "2024-09-17: removed 2 local files (their server copies are verified)" in info


def test_a_second_pass_sends_nothing(tmp_path: Path) -> None:
    make_days(tmp_path)
    remote = MemoryRemote(server_traits=SFTP_ONLY_TRAITS)
    run(remote, tmp_path, remove=False)
    remote.log.clear()
    info, _errors, _report = run(remote, tmp_path, remove=False)
    assert "2024-09-18: found 2 synced files and 0 unsynced files" in info
    assert not [op for op, _ in remote.log if op.startswith("open")]


def test_a_day_that_fails_keeps_its_data_releases_markers_and_the_next_day_goes_on(
    tmp_path: Path,
) -> None:
    written = make_days(tmp_path)
    remote = MemoryRemote()
    remote.fail("mkdir", "/srv/20240917", RemotePathError("permission denied on /srv/20240917"))
    _info, errors, _report = run(remote, tmp_path, remove=True)
    assert errors == ["2024-09-17: failed: permission denied on /srv/20240917"]
    assert (tmp_path / "20240917" / "small.txt").read_bytes() == written["20240917/small.txt"]
    assert not (tmp_path / "20240917" / ".do-not-touch").exists()
    assert "/srv/20240918/sub/large.bin" in remote.files
    assert not [p for p in remote.files if p.endswith(".do-not-touch")]


def test_a_local_file_is_removed_only_when_the_server_copy_matches(tmp_path: Path) -> None:
    make_days(tmp_path)
    # verified after upload by one command per day, which lies about one file
    remote = MemoryRemote(server_traits=ServerTraits(shell=True, batch_hasher=True))
    honest = remote.run

    def lying(command: str, stdin: bytes = b"", timeout: float | None = None) -> CommandResult:
        result = honest(command, stdin, timeout)
        records = [
            b"0" * 64 + r[64:] if r.endswith(b"large.bin") else r
            for r in result.stdout.split(b"\0")
        ]
        return CommandResult(result.exit_status, b"\0".join(records), result.stderr)

    remote.run = lying  # type: ignore[method-assign]
    _info, errors, _report = run(remote, tmp_path, remove=True)
    assert "2024-09-17: 1 of 2 files could not be verified" in errors[0]
    assert not (tmp_path / "20240917" / "small.txt").exists()
    kept = (tmp_path / "20240917" / "sub" / "large.bin").read_bytes()
    assert kept == remote.files["/srv/20240917/sub/large.bin"]
