"""Remote checksums (verify.py): one command per day with a shell, read-back without."""

from __future__ import annotations

import hashlib

from circadian_scp_upload.engine.verify import RemoteHasher, parse_sums
from tests.unit.fake_remote import SFTP_ONLY_TRAITS, MemoryRemote


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_parse_sums_reads_nul_terminated_records_with_any_name() -> None:
    output = (
        sha(b"a").encode()
        + b"  new\nline.txt\0"
        + sha(b"b").encode()
        + b" *caf\xe9.dat\0"
        + b"garbage\0"
    )
    assert parse_sums(output) == {
        "new\nline.txt": sha(b"a"),
        "caf\udce9.dat": sha(b"b"),
    }


def filled(remote: MemoryRemote) -> MemoryRemote:
    remote.folders.update({"/day", "/day/sub"})
    remote.files.update({"/day/a": b"a", "/day/sub/b": b"bb", "/day/it's $(x)": b"c"})
    return remote


def test_with_a_shell_one_command_hashes_the_whole_day() -> None:
    remote = filled(MemoryRemote())
    sums = RemoteHasher(remote).checksums("/day", ["a", "sub/b", "it's $(x)", "missing"], 4)
    assert sums == {"a": sha(b"a"), "sub/b": sha(b"bb"), "it's $(x)": sha(b"c")}
    commands = [path for operation, path in remote.log if operation == "run"]
    assert commands == ["cd -- /day && xargs -0 sha256sum -z --"]  # no name on the line


def test_without_a_shell_files_are_read_back() -> None:
    remote = filled(MemoryRemote(server_traits=SFTP_ONLY_TRAITS))
    sums = RemoteHasher(remote).checksums("/day", ["a", "sub/b", "missing"], 3)
    assert sums == {"a": sha(b"a"), "sub/b": sha(b"bb")}
    assert not [op for op, _ in remote.log if op == "run"]
    assert ("read", "/day/sub/b") in remote.log


def test_one_file_is_hashed_on_the_server_only_where_it_can() -> None:
    remote = filled(MemoryRemote())
    assert RemoteHasher(remote).file_checksum("/day/it's $(x)", 1) == sha(b"c")
    assert ("run", "sha256sum < '/day/it'\"'\"'s $(x)'") in remote.log
    assert (
        RemoteHasher(filled(MemoryRemote(server_traits=SFTP_ONLY_TRAITS))).file_checksum(
            "/day/a", 1
        )
        is None
    )
