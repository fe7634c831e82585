"""A day's procedure (day.py, client.py) end to end against the in-memory transport."""

from __future__ import annotations

import datetime
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from circadian_scp_upload import DailyTransferClient, RunReport, UploadClientCallbacks
from circadian_scp_upload.engine.transfer import partial_folder, partial_path
from circadian_scp_upload.errors import RemotePathError, TransientError
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


def client(remote: MemoryRemote, src: Path, remove: bool, **options: Any) -> DailyTransferClient:
    info = options.pop("info", [])
    errors = options.pop("errors", [])
    callbacks = UploadClientCallbacks(
        dated_regex=options.pop("dated_regex", r"^%Y%m%d$"),
        log_info=info.append,
        log_error=errors.append,
    )
    return DailyTransferClient(
        remote_connection=remote,
        src_path=src,
        dst_path="/srv",
        remove_files_after_upload=remove,
        variant=options.pop("variant", "directories"),
        callbacks=callbacks,
        timezone="UTC",
        clock=lambda: NOW,
        **options,
    )


def run(
    remote: MemoryRemote, src: Path, remove: bool, **options: Any
) -> tuple[list[str], list[str], RunReport]:
    info: list[str] = []
    errors: list[str] = []
    report = client(remote, src, remove, info=info, errors=errors, **options).run()
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


def test_a_second_pass_only_lists_and_touches_nothing(tmp_path: Path) -> None:
    make_days(tmp_path)
    remote = MemoryRemote(server_traits=SFTP_ONLY_TRAITS)
    run(remote, tmp_path, remove=False)
    remote.log.clear()
    info, errors, report = run(remote, tmp_path, remove=False)
    assert errors == []
    assert info == [
        "2 day(s) already on the server, unchanged (2024-09-17 to 2024-09-18): nothing to do"
    ]
    assert {op for op, _ in remote.log} == {"ensure_connected", "list"}
    assert [d.idle for d in report.days] == [True, True]
    assert not (tmp_path / "20240917" / ".do-not-touch").exists()


def test_copies_from_an_older_version_are_checksummed_once_then_get_the_local_time(
    tmp_path: Path,
) -> None:
    written = make_days(tmp_path)
    remote = MemoryRemote()
    run(remote, tmp_path, remove=False)
    for path in list(remote.mtimes):
        remote.mtimes[path] = 1  # as uploaded by a version that kept the upload time
    remote.log.clear()
    info, _errors, _report = run(remote, tmp_path, remove=False)
    assert "2024-09-17: found 2 synced files and 0 unsynced files" in info
    assert not [op for op, _ in remote.log if op.startswith("open")]  # nothing re-sent
    assert remote.mtimes["/srv/20240917/small.txt"] == int(
        (tmp_path / "20240917" / "small.txt").stat().st_mtime
    )
    assert remote.files["/srv/20240917/small.txt"] == written["20240917/small.txt"]
    remote.log.clear()
    run(remote, tmp_path, remove=False)
    assert {op for op, _ in remote.log} == {"ensure_connected", "list"}


def test_checksum_mode_reads_both_sides_but_sends_nothing(tmp_path: Path) -> None:
    make_days(tmp_path)
    remote = MemoryRemote()
    run(remote, tmp_path, remove=False)
    remote.log.clear()
    info, _errors, _report = run(remote, tmp_path, remove=False, checksum=True)
    assert "2024-09-18: checksums of all 2 files match" in info
    assert [op for op, _ in remote.log].count("run") == 2  # one hash command per day
    assert not [op for op, _ in remote.log if op.startswith(("open", "write", "mkdir"))]


def test_a_file_changed_after_it_was_verified_is_uploaded_again(tmp_path: Path) -> None:
    make_days(tmp_path)
    remote = MemoryRemote()
    run(remote, tmp_path, remove=False)
    changed = tmp_path / "20240917" / "small.txt"
    changed.write_bytes(b"x" * 100)  # same size, new content and time
    os.utime(changed, (2_000_000_000, 2_000_000_000))
    info, _errors, _report = run(remote, tmp_path, remove=False)
    assert "2024-09-17: found 1 synced files and 1 unsynced files" in info
    assert remote.files["/srv/20240917/small.txt"] == b"x" * 100
    assert remote.mtimes["/srv/20240917/small.txt"] == 2_000_000_000


def test_old_days_beyond_the_look_back_window_are_left_alone(tmp_path: Path) -> None:
    make_days(tmp_path)
    remote = MemoryRemote()
    run(remote, tmp_path, remove=False, max_age_days=2)
    assert sorted({p.split("/")[2] for p in remote.files}) == ["20240918"]


def test_the_files_variant_lists_its_folder_once_per_pass(tmp_path: Path) -> None:
    for day in range(10, 20):
        (tmp_path / f"202409{day}-a.txt").write_bytes(b"a" * day)
    remote = MemoryRemote()
    run(remote, tmp_path, remove=False, variant="files", dated_regex=r"^%Y%m%d-.*$")
    assert len(remote.files) == 10
    assert [op for op, _ in remote.log].count("list") == 1


def test_a_manifest_is_written_last_and_only_when_the_day_changes(tmp_path: Path) -> None:
    written = make_days(tmp_path)
    remote = MemoryRemote()
    run(remote, tmp_path, remove=False, manifest=True)
    manifest = remote.files["/srv/20240917/SHA256SUMS"].decode()
    assert manifest == "".join(
        f"{hashlib.sha256(written[f'20240917/{name}']).hexdigest()}  {name}\n"
        for name in ("small.txt", "sub/large.bin")
    )
    remote.log.clear()
    run(remote, tmp_path, remove=False, manifest=True)
    assert {op for op, _ in remote.log} == {"ensure_connected", "list"}
    (tmp_path / "20240917" / "late.txt").write_bytes(b"late")
    run(remote, tmp_path, remove=False, manifest=True)
    assert "late.txt" in remote.files["/srv/20240917/SHA256SUMS"].decode()
    writes = [path for op, path in remote.log if op == "write"]
    temporary = partial_path("/srv/20240917/SHA256SUMS", partial_folder("/srv"))
    assert writes.index(temporary) > writes.index("/srv/20240917/.do-not-touch")


def test_pending_lists_only_the_days_that_need_work(tmp_path: Path) -> None:
    make_days(tmp_path)
    remote = MemoryRemote()
    run(remote, tmp_path, remove=False)
    (tmp_path / "20240918" / "new.bin").write_bytes(b"n" * 10)
    pending = client(remote, tmp_path, remove=False).pending()
    assert [(p.unit.date.day, p.upload, p.upload_bytes, p.compare) for p in pending] == [
        (18, 1, 10, 0)
    ]


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

    def lying(
        command: str, stdin: bytes = b"", timeout: float | None = None, poll: Any = None
    ) -> CommandResult:
        result = honest(command, stdin, timeout, poll)
        records = [
            b"0" * 64 + r[64:] if r.endswith(b"small.txt") else r
            for r in result.stdout.split(b"\0")
        ]
        return CommandResult(result.exit_status, b"\0".join(records), result.stderr)

    remote.run = lying  # type: ignore[method-assign]
    _info, errors, _report = run(remote, tmp_path, remove=True)
    assert "2024-09-17: 1 of 2 files could not be verified" in errors[0]
    assert not (tmp_path / "20240917" / "sub" / "large.bin").exists()
    kept = (tmp_path / "20240917" / "small.txt").read_bytes()
    assert kept == remote.files["/srv/20240917/small.txt"]


def test_a_local_file_gone_after_screening_fails_its_day_only(tmp_path: Path) -> None:
    make_days(tmp_path)
    remote = MemoryRemote()
    vanishing = tmp_path / "20240917" / "sub" / "large.bin"
    original = client(remote, tmp_path, remove=True)
    days = original.ready_days()
    files = days[0].list_files()  # screened...
    vanishing.unlink()  # ...then gone
    days[0].list_files = lambda: files  # type: ignore[method-assign]
    original.ready_days = lambda report_odd_names=True: days  # type: ignore[method-assign]
    report = original.run()
    assert [d.status for d in report.days] == ["failed", "uploaded"]
    assert "/srv/20240917/small.txt" in remote.files  # the readable file of that day went
    assert "/srv/20240918/sub/large.bin" in remote.files
    assert not (tmp_path / "20240917" / "small.txt").exists()  # verified: removed


def test_a_copy_that_arrived_but_was_never_verified_is_not_taken_as_synced(
    tmp_path: Path,
) -> None:
    make_days(tmp_path)
    remote = MemoryRemote(server_traits=ServerTraits(shell=True, batch_hasher=True))
    honest = remote.run

    def link_drops_while_hashing(*args: Any, **kwargs: Any) -> CommandResult:
        raise TransientError("the link dropped while the server hashed")

    remote.run = link_drops_while_hashing  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        run(remote, tmp_path, remove=False)
    assert "/srv/20240917/small.txt" in remote.files  # it arrived, unverified
    remote.run = honest  # type: ignore[method-assign]
    remote.log.clear()
    info, _errors, report = run(remote, tmp_path, remove=False)
    assert not report.days[0].idle
    assert "2024-09-17: checksums of all 2 files match" in info
    assert ("run", "cd -- /srv/20240917 && xargs -0 sha256sum -z --") in remote.log


def test_removal_happens_under_the_local_marker(tmp_path: Path) -> None:
    make_days(tmp_path)
    remote = MemoryRemote()
    run(remote, tmp_path, remove=False)
    seen: list[bool] = []
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if path.name != ".do-not-touch":
            seen.append(
                (path.parent.parent / ".do-not-touch").exists()
                or (path.parent / ".do-not-touch").exists()
            )
        real_unlink(path, missing_ok)

    Path.unlink = unlink  # type: ignore[method-assign,assignment]
    try:
        run(remote, tmp_path, remove=True)
    finally:
        Path.unlink = real_unlink  # type: ignore[method-assign]
    assert seen
    assert all(seen)
    assert not [p for p in remote.files if p.endswith(".do-not-touch")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240920"]


def test_renames_are_made_durable_before_any_local_file_goes(tmp_path: Path) -> None:
    """Where the server's shell has a sync that takes names, each file to be removed
    and the folders holding it are synced first; a sync that fails keeps every file."""
    make_days(tmp_path)
    traits = ServerTraits(
        shell=True, batch_hasher=True, stream_hasher="sha256sum", fsync=True, folder_sync=True
    )
    remote = MemoryRemote(server_traits=traits)
    seen: list[int] = []
    info: list[str] = []

    def on_info(message: str) -> None:
        info.append(message)
        if "removed" in message:
            seen.append(len(remote.synced))

    callbacks = UploadClientCallbacks(log_info=on_info)
    DailyTransferClient(
        remote, tmp_path, "/srv", True, callbacks=callbacks, timezone="UTC", clock=lambda: NOW
    ).run()
    assert seen == [1, 2]  # each day synced before its removal
    assert remote.synced[0] == (  # every folder up to the destination, the day's own too
        "/srv",
        [".", "20240917", "20240917/small.txt", "20240917/sub", "20240917/sub/large.bin"],
    )
    make_days(tmp_path / "again")
    remote = MemoryRemote(server_traits=traits, sync_status=1)
    info, errors, report = run(remote, tmp_path / "again", remove=True)
    assert [d.status for d in report.days] == ["failed", "failed"]  # pending, not verified
    assert all(
        (tmp_path / "again" / day / "small.txt").exists() for day in ("20240917", "20240918")
    )
    assert any("could not make its copies durable" in e for e in errors)


def test_a_server_clock_that_cannot_answer_keeps_the_local_files_until_it_can(
    tmp_path: Path,
) -> None:
    """Unmeasured, a day is judged by the station's clock alone: uploaded and verified,
    but nothing local is removed; a later run whose clock check succeeds removes it."""
    written = make_days(tmp_path)
    remote = MemoryRemote()
    info, errors, report = run(remote, tmp_path, remove=True, server_clock=lambda: None)
    assert errors == []
    past = {k: v for k, v in written.items() if not k.startswith("20240920")}
    assert remote.files == {f"/srv/{k}": v for k, v in past.items()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240917", "20240918", "20240920"]
    assert any(
        m.startswith("2024-09-17: its local files stay this time: the station's clock")
        for m in info
    )
    assert not any("removed" in m for m in info)
    assert {d.status for d in report.days} == {"uploaded"}
    info, errors, _report = run(remote, tmp_path, remove=True, server_clock=lambda: NOW)
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240920"]
    assert "2024-09-17: removed 2 local files (their server copies are verified)" in info


def test_one_client_asks_the_server_clock_afresh_in_every_run(tmp_path: Path) -> None:
    """A library user's client kept across runs: an unmeasured run keeps local files,
    the next, measured, run removes them."""
    make_days(tmp_path)
    answers: list[datetime.datetime | None] = [None]
    one = client(MemoryRemote(), tmp_path, True, server_clock=lambda: answers[-1])
    one.run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240917", "20240918", "20240920"]
    answers.append(NOW)
    one.run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240920"]


def test_a_server_clock_behind_holds_the_day_back(tmp_path: Path) -> None:
    """The station's clock says the 18th is over; the server's (two days behind) does not."""
    make_days(tmp_path)
    remote = MemoryRemote()
    behind = NOW - datetime.timedelta(days=2)
    info, errors, _report = run(remote, tmp_path, remove=True, server_clock=lambda: behind)
    assert errors == []
    assert sorted({k.split("/")[2] for k in remote.files}) == ["20240917"]
    assert (tmp_path / "20240918" / "small.txt").exists()
    assert any(
        m.startswith("2024-09-18: not over by the server's clock: it becomes ready at")
        for m in info
    )


def test_a_file_copied_with_its_old_times_is_not_quiet(tmp_path: Path) -> None:
    """A copy that keeps the original's modification time (cp -p, rsync -t, unzip) looks
    old by it; its change time says it just arrived: the day waits."""
    make_days(tmp_path)
    old = time.time() - 3 * 86400
    for day in ("20240917", "20240918"):
        for name in ("small.txt", "sub/large.bin"):
            os.utime(tmp_path / day / name, (old, old))  # as a copy keeping times leaves it
    remote = MemoryRemote()
    info, errors, _report = run(
        remote, tmp_path, remove=True, quiet_period=datetime.timedelta(minutes=5)
    )
    assert errors == []
    assert remote.files == {}  # nothing of a day still arriving
    assert (tmp_path / "20240917" / "small.txt").exists()
    assert any(m.startswith("2024-09-17: not finished: its newest file changed") for m in info)
    later = time.time() + 301  # quiet for the whole period by the change times too
    run(
        remote,
        tmp_path,
        remove=True,
        quiet_period=datetime.timedelta(minutes=5),
        wall_clock=lambda: later,
    )
    assert "/srv/20240917/small.txt" in remote.files
    assert not (tmp_path / "20240917").exists()


def test_a_file_time_in_the_future_holds_its_day_back_and_says_why(tmp_path: Path) -> None:
    """A quiet period goes by the files' times; one stamped in the future (the writer's
    clock runs ahead) proves no quiet: the day waits, whatever its other files say."""
    make_days(tmp_path)
    later = time.time() + 3600  # the station's clock an hour after the files were made
    ahead = later + 600
    os.utime(tmp_path / "20240917" / "small.txt", (ahead, ahead))
    remote = MemoryRemote()
    info, errors, report = run(
        remote,
        tmp_path,
        remove=True,
        quiet_period=datetime.timedelta(minutes=5),
        wall_clock=lambda: later,
    )
    assert errors == []
    assert not any(path.startswith("/srv/20240917/") for path in remote.files)
    assert (tmp_path / "20240917" / "small.txt").exists()
    assert "/srv/20240918/small.txt" in remote.files  # a quiet day goes on
    assert any(
        m.startswith("2024-09-17: not finished: its newest file has a time 600 s in the future")
        or m.startswith("2024-09-17: not finished: its newest file has a time 599 s in the future")
        for m in info
    ), info
    assert {d.unit.date.isoformat(): d.status for d in report.days if d.unit}["2024-09-17"] == (
        "waiting"
    )
