"""Putting files on the server (transfer.py) against the in-memory transport."""

from __future__ import annotations

import hashlib
import itertools
import os
import posixpath
from pathlib import Path

import pytest

from circadian_scp_upload.engine.lanes import merge, plan_lanes, wanted_lanes
from circadian_scp_upload.engine.pacing import AbortPoller, Pacer
from circadian_scp_upload.engine.progress import Progress
from circadian_scp_upload.engine.transfer import (
    Uploader,
    batches,
    partial_folder,
    partial_path,
)
from circadian_scp_upload.errors import RemotePathError, UploadAborted
from circadian_scp_upload.source.days import LocalFile
from tests.unit.fake_remote import SFTP_ONLY_TRAITS, MemoryRemote, MemorySink

PARTIALS = partial_folder("/day")  # the temporary files of the destination /day


def tmp(final: str) -> str:
    """The temporary path the uploader writes ``final`` under."""
    return partial_path(final, PARTIALS)


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def local_file(tmp_path: Path, relpath: str, content: bytes) -> LocalFile:
    path = tmp_path / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    st = path.stat()
    return LocalFile(relpath, path, st.st_size, st.st_mtime_ns)


def uploader(
    remote: MemoryRemote,
    pacer: Pacer | None = None,
    abort: bool = False,
    stream: bool = True,
    checksum: bool = True,
    sent: list[int] | None = None,
) -> Uploader:
    hasher = None
    if checksum:

        def hasher(path: str, _size: int) -> str:
            return hashlib.sha256(remote.files[path]).hexdigest()

    remote.make_folders([PARTIALS])
    return Uploader(
        remote,
        pacer or Pacer(0),
        AbortPoller(lambda: abort, clock=itertools.count().__next__),  # asks every time
        partials=PARTIALS,
        stream=stream,
        server_checksum=hasher,
        durable=True,
        on_bytes=(sent if sent is not None else []).append,
    )


def test_temporary_names_live_in_the_agents_own_folder_and_never_beside_data() -> None:
    assert partial_folder("/srv/up/") == "/srv/up/.csu/partial"
    assert partial_folder("relative") == "relative/.csu/partial"
    folder = partial_folder("/srv/up")
    name = partial_path("/srv/up/20240917/a.txt", folder)
    assert posixpath.dirname(name) == folder
    assert name.endswith(".csu-partial")
    assert len(posixpath.basename(name)) == 32 + 12
    # the same final path always gets the same name (resume), another one another
    assert name == partial_path("/srv/up/20240917/a.txt", folder)
    assert name != partial_path("/srv/up/20240917/A.txt", folder)
    # a file of the instrument's named like an old temporary file is just a file
    assert partial_path("/srv/up/20240917/.a.txt.csu-partial", folder) != name
    long_name = "x" * 255
    assert len(posixpath.basename(partial_path(f"/srv/up/d/{long_name}", folder))) == 44
    odd = "/srv/up/d/caf\udce9.dat"  # a name that is not UTF-8 (surrogate-escaped)
    assert partial_path(odd, folder).startswith(folder + "/")


def test_batches_are_bounded_in_count_and_bytes(tmp_path: Path) -> None:
    files = [LocalFile(f"f{i}", tmp_path / f"f{i}", 60 * 1024 * 1024, 0) for i in range(5)]
    assert [len(b) for b in batches(files)] == [2, 2, 1]
    many = [LocalFile(f"f{i}", tmp_path / f"f{i}", 1, 0) for i in range(5000)]
    assert [len(b) for b in batches(many)] == [4096, 904]


def test_small_files_land_under_their_final_names_with_their_checksums(tmp_path: Path) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    files = [local_file(tmp_path, f"f{i}.txt", f"content {i}".encode()) for i in range(3)]
    sums = uploader(remote).put_small([(f, f"/day/{f.relpath}") for f in files])
    assert remote.files == {f"/day/f{i}.txt": f"content {i}".encode() for i in range(3)}
    assert sums == {f.relpath: hashlib.sha256(f.path.read_bytes()).hexdigest() for f in files}
    assert remote.durable == {tmp(f"/day/f{i}.txt") for i in range(3)}


def test_a_failed_small_file_is_reported_after_the_others_were_renamed(tmp_path: Path) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    files = [local_file(tmp_path, name, name.encode()) for name in ("a", "b", "c")]
    remote.fail("open", tmp("/day/b"), RemotePathError("permission denied"))
    with pytest.raises(RemotePathError, match="permission denied"):
        uploader(remote).put_small([(f, f"/day/{f.relpath}") for f in files])
    assert remote.files == {"/day/a": b"a", "/day/c": b"c"}


def test_the_bandwidth_limit_covers_batches_of_small_files(tmp_path: Path) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    time = FakeTime()
    pacer = Pacer(100_000, clock=time.clock, sleep=time.sleep)
    files = [local_file(tmp_path, f"f{i}", os.urandom(50_000)) for i in range(10)]
    uploader(remote, pacer).put_small([(f, f"/day/{f.relpath}") for f in files])
    assert time.now == pytest.approx(5.0, abs=0.01)  # 500 kB at 100 kB/s


def test_an_abort_mid_batch_leaves_nothing_under_a_final_name(tmp_path: Path) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    files = [local_file(tmp_path, f"f{i}", b"x") for i in range(3)]
    with pytest.raises(UploadAborted):
        uploader(remote, abort=True).put_small([(f, f"/day/{f.relpath}") for f in files])
    assert not any(path.endswith(("/f0", "/f1", "/f2")) for path in remote.files)


@pytest.mark.parametrize("stream", [True, False])
def test_a_large_file_is_streamed_checked_and_renamed(tmp_path: Path, stream: bool) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    content = os.urandom(1_000_000)
    local = local_file(tmp_path, "big.bin", content)
    sent: list[int] = []
    outcome = uploader(remote, stream=stream, sent=sent).put_large(local, "/day/big.bin", print)
    assert remote.files == {"/day/big.bin": content}
    assert outcome.sha256 == outcome.remote_sha256 == hashlib.sha256(content).hexdigest()
    assert outcome.resumed_from == 0
    assert sum(sent) == len(content)
    assert ("open-stream" if stream else "open", tmp("/day/big.bin")) in remote.log


def test_a_partial_file_with_a_matching_tail_is_resumed(tmp_path: Path) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    content = os.urandom(1_000_000)
    remote.files[tmp("/day/big.bin")] = content[:600_000]
    local = local_file(tmp_path, "big.bin", content)
    resumed: list[int] = []
    sent: list[int] = []
    outcome = uploader(remote, sent=sent).put_large(local, "/day/big.bin", resumed.append)
    assert resumed == [600_000]
    assert outcome.resumed_from == 600_000
    assert outcome.sha256 == hashlib.sha256(content).hexdigest()
    assert remote.files == {"/day/big.bin": content}
    assert sum(sent) == len(content)  # the skipped prefix counts as done


def test_a_partial_file_with_a_corrupt_tail_starts_over(tmp_path: Path) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    content = os.urandom(500_000)
    remote.files[tmp("/day/big.bin")] = content[:100_000] + b"X" * 1000
    local = local_file(tmp_path, "big.bin", content)
    outcome = uploader(remote).put_large(local, "/day/big.bin", print)
    assert outcome.resumed_from == 0
    assert remote.files == {"/day/big.bin": content}


def test_a_server_copy_with_another_checksum_is_discarded_not_renamed(tmp_path: Path) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    local = local_file(tmp_path, "big.bin", os.urandom(300_000))
    upload = uploader(remote)
    upload.server_checksum = lambda _path, _size: "0" * 64
    with pytest.raises(RemotePathError, match="checksums differ"):
        upload.put_large(local, "/day/big.bin", print)
    assert remote.files == {}


def test_a_short_server_copy_is_never_renamed_into_place(tmp_path: Path) -> None:
    remote = MemoryRemote(server_traits=SFTP_ONLY_TRAITS)
    remote.folders.add("/day")
    local = local_file(tmp_path, "big.bin", os.urandom(300_000))

    upload = uploader(remote, stream=False, checksum=False)
    original_open = remote.open_file

    def open_file(path: str, offset: int, stream: bool) -> MemorySink:
        sink = original_open(path, offset, stream)
        sink.write = lambda data: None  # type: ignore[method-assign]  # the server drops bytes
        return sink

    remote.open_file = open_file  # type: ignore[method-assign]
    with pytest.raises(RemotePathError, match="stored 0 of 300000 bytes"):
        upload.put_large(local, "/day/big.bin", print)
    assert "/day/big.bin" not in remote.files


def test_a_stop_between_files_ends_a_batch_at_the_next_file(tmp_path: Path) -> None:
    remote = MemoryRemote()
    remote.folders.add("/day")
    files = [local_file(tmp_path, f"f{i}", f"c{i}".encode()) for i in range(5)]
    asked: list[int] = []

    def window() -> str | None:
        asked.append(1)
        return "the upload window (22:00-06:00) closed" if len(asked) > 2 else None

    upload = uploader(remote)
    upload.poll.between_files = window
    with pytest.raises(UploadAborted, match="window"):
        upload.put_small([(f, f"/day/{f.relpath}") for f in files])
    finals = {k: v for k, v in remote.files.items() if not k.endswith(".csu-partial")}
    assert finals == {"/day/f0": b"c0", "/day/f1": b"c1"}  # the written ones renamed
    assert remote.files[tmp("/day/f2")] == b""  # opened, not written: a leftover


def long_link_upload(
    tmp_path: Path, remote: MemoryRemote, small: int, large: int
) -> tuple[Uploader, list[tuple[LocalFile, str]], list[str]]:
    remote.folders.add("/day")
    files = [local_file(tmp_path, f"s{i:03d}", os.urandom(1000 + i)) for i in range(small)]
    files += [local_file(tmp_path, f"L{i}", os.urandom(300_000 + i)) for i in range(large)]
    pairs = [(f, f"/day/{f.relpath}") for f in files]
    lines: list[str] = []
    up = uploader(remote)
    up.parallel_large = True
    return up, pairs, lines


@pytest.mark.parametrize(("round_trip", "granted", "lanes"), [(0.05, 8, "4"), (0.05, 2, "4")])
def test_on_a_long_link_small_and_large_files_share_several_channels(
    tmp_path: Path, round_trip: float, granted: int, lanes: str
) -> None:
    remote = MemoryRemote(round_trip=round_trip, lane_count=granted)
    up, pairs, lines = long_link_upload(tmp_path, remote, small=300, large=3)
    total = sum(f.size for f, _final in pairs)
    progress = Progress(lines.append, len(pairs), total, 3600.0)
    local_sums, server_sums = up.put_all(pairs, progress, lambda _f, _o: None)
    assert ("lanes", lanes) in remote.log
    assert remote.files == {final: f.path.read_bytes() for f, final in pairs}
    assert local_sums == {
        f.relpath: hashlib.sha256(f.path.read_bytes()).hexdigest() for f, _ in pairs
    }
    assert set(server_sums) == {"L0", "L1", "L2"}
    assert up.files_sent == len(pairs)
    assert up.bytes_sent == total
    assert lines[-1] == f"100.0 % ({len(pairs)}/{len(pairs)}) uploaded"


def test_on_a_short_link_two_channels_share_the_small_files(tmp_path: Path) -> None:
    remote = MemoryRemote(round_trip=0.0005, lane_count=8)
    up, pairs, lines = long_link_upload(tmp_path, remote, small=300, large=3)
    progress = Progress(lines.append, len(pairs), 1, 3600.0)
    up.put_all(pairs, progress, lambda _f, _o: None)
    assert [path for operation, path in remote.log if operation == "lanes"] == ["2"]
    assert len(remote.files) == len(pairs)


def test_a_few_small_files_stay_on_one_channel(tmp_path: Path) -> None:
    remote = MemoryRemote(round_trip=0.05, lane_count=8)
    up, pairs, lines = long_link_upload(tmp_path, remote, small=100, large=0)
    up.put_all(pairs, Progress(lines.append, len(pairs), 1, 3600.0), lambda _f, _o: None)
    assert not any(operation == "lanes" for operation, _path in remote.log)
    assert len(remote.files) == len(pairs)


def test_a_failure_in_one_lane_is_raised_after_the_others_finished(tmp_path: Path) -> None:
    remote = MemoryRemote(round_trip=0.05, lane_count=4)
    up, pairs, lines = long_link_upload(tmp_path, remote, small=300, large=0)
    remote.fail("open", tmp("/day/s250"), RemotePathError("permission denied"))
    progress = Progress(lines.append, len(pairs), 1, 3600.0)
    with pytest.raises(RemotePathError, match="permission denied"):
        up.put_all(pairs, progress, lambda _f, _o: None)
    assert ("lanes", "4") in remote.log
    assert set(remote.files) == {final for f, final in pairs if f.relpath != "s250"}


def test_names_a_case_insensitive_server_cannot_tell_apart_share_one_lane(
    tmp_path: Path,
) -> None:
    """Two lanes renaming A.bin and a.bin into place at once would race for one final
    name on a case-insensitive server: they go one after the other, on one lane."""
    large = [local_file(tmp_path, f"L{i}", os.urandom(300_000 + i)) for i in range(6)]
    plans = plan_lanes([], large, (4, 4), parallel_large=True, one_by_one={"L1", "L4"})
    assert len(plans) == 4
    lanes_of = {f.relpath: i for i, (_small, lane) in enumerate(plans) for f in lane}
    assert lanes_of["L1"] == lanes_of["L4"]
    assert sorted(lanes_of) == [f"L{i}" for i in range(6)]
    assert [f.relpath for f in plans[lanes_of["L1"]][1]][:2] == ["L1", "L4"]  # in order


def test_lanes_by_the_link_and_folded_into_what_the_server_granted(tmp_path: Path) -> None:
    by_link = [wanted_lanes(0, trip) for trip in (None, 0.0005, 0.01, 0.2)]
    assert by_link == [(2, 1), (2, 1), (4, 4), (4, 4)]  # short: large files one by one
    assert wanted_lanes(3, 0.2) == wanted_lanes(3, None) == (3, 3)  # CSU_CHANNELS wins
    large = [local_file(tmp_path, f"L{i}", b"y" * 300_000) for i in range(3)]
    short = plan_lanes([], large, (2, 1), parallel_large=True, one_by_one=set())
    assert [[f.relpath for f in lane] for _small, lane in short] == [["L0", "L1", "L2"]]
    small = [local_file(tmp_path, f"s{i:03d}", b"x" * 100) for i in range(256)]
    plans = plan_lanes(small, [], (4, 4), parallel_large=False, one_by_one=set())
    assert [len(lane) for lane, _large in plans] == [64, 64, 64, 64]
    folded = merge(plans, 3)
    assert len(folded) == 3
    assert sorted(f.relpath for lane, _large in folded for f in lane) == sorted(
        f.relpath for f in small
    )
