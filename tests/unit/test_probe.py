"""What a server offers (remote/probe.py): parsing the probe and deciding once."""

from __future__ import annotations

import pytest

from circadian_scp_upload.remote.api import CommandResult
from circadian_scp_upload.remote.probe import (
    EMPTY_SHA256,
    PROBE,
    QUOTING_TORTURE,
    SYNC_PROBE,
    parse_probe,
    probe,
    traits_from,
)

OPENSSH = {"fsync@openssh.com", "posix-rename@openssh.com", "statvfs@openssh.com"}


def answer(*parts: bytes, quoting: bytes = QUOTING_TORTURE.encode()) -> bytes:
    """The probe's output: answers 1 to 3 as given, then the quoting test and the end."""
    parts = (*parts[:3], quoting + b"\n", b"")
    return b"".join(b"@" + str(i + 1).encode() + b"\n" + p for i, p in enumerate(parts))


def test_parse_probe_keys_each_answer_by_its_marker() -> None:
    out = answer(EMPTY_SHA256 + b"  /dev/null\0", EMPTY_SHA256 + b" *stdin\n", b"")
    assert parse_probe(out) == {
        "1": EMPTY_SHA256 + b"  /dev/null",
        "2": EMPTY_SHA256 + b" *stdin",
        "3": b"",
        "4": QUOTING_TORTURE.encode(),
        "5": b"",
    }


def test_a_full_shell_with_openssl_and_coreutils() -> None:
    out = answer(
        EMPTY_SHA256 + b"  /dev/null\0",
        EMPTY_SHA256 + b" *stdin\n",
        EMPTY_SHA256 + b"  -\n",
        b"",
    )
    traits = traits_from(CommandResult(0, out, b""), OPENSSH)
    assert traits.shell
    assert traits.batch_hasher
    assert traits.stream_hasher == "openssl dgst -sha256 -r"
    assert traits.fsync
    assert traits.posix_rename
    assert traits.statvfs
    assert "a POSIX shell" in traits.describe()
    assert "fsync: yes" in traits.describe()


FULL_SHELL = answer(
    EMPTY_SHA256 + b"  /dev/null\0", EMPTY_SHA256 + b" *stdin\n", EMPTY_SHA256 + b"  -\n"
)


@pytest.mark.parametrize(
    ("sync", "durable"),
    [
        (CommandResult(0, b"synced\n", b""), True),  # GNU coreutils 8.24 and later
        # coreutils before 8.24 (RHEL 7): names ignored, every filesystem synced
        (CommandResult(0, b"sync: ignoring all arguments\nsynced\n", b""), False),
        (CommandResult(1, b"", b""), False),  # a usage without FILE: not even run
        (CommandResult(1, b"", b"csu-only: refused"), False),  # an older forced command
        (None, False),  # refused as an exec request
    ],
)
def test_a_sync_that_takes_names_is_asked_for_apart_from_the_probe(
    sync: CommandResult | None, durable: bool
) -> None:
    asked: list[str] = []

    def run(command: str) -> CommandResult | None:
        asked.append(command)
        return CommandResult(0, FULL_SHELL, b"") if command == PROBE else sync

    traits = probe(run, OPENSSH)
    assert asked == [PROBE, SYNC_PROBE]
    assert traits.shell  # hashing on the server whatever sync answers
    assert traits.folder_sync is durable
    wanted = "sync of its folder" if durable else "a rename is not made durable"
    assert wanted in traits.describe()


def test_no_shell_asks_nothing_about_sync() -> None:
    asked: list[str] = []

    def run(command: str) -> CommandResult | None:
        asked.append(command)
        return None

    assert not probe(run, OPENSSH).folder_sync
    assert asked == [PROBE]


def test_no_fsync_and_no_shell_is_said_as_no_durability() -> None:
    traits = traits_from(None, {"posix-rename@openssh.com"})
    assert "durability: none offered" in traits.describe()


def test_a_busybox_shell_without_openssl_or_sha256sum_z() -> None:
    out = answer(
        b"sha256sum: unrecognized option: z\n",
        b"sh: openssl: not found\n",
        EMPTY_SHA256 + b"  -\n",
        b"",
    )
    traits = traits_from(CommandResult(0, out, b""), set())
    assert traits.shell
    assert not traits.batch_hasher
    assert traits.stream_hasher == "sha256sum"
    assert not traits.fsync
    assert "read-back over SFTP for the rest" in traits.describe()


def test_an_sftp_only_server_has_no_shell() -> None:
    result = CommandResult(1, b"", b"This service allows sftp connections only.\n")
    traits = traits_from(result, OPENSSH)
    assert not traits.shell
    assert not traits.batch_hasher
    assert traits.stream_hasher is None
    assert traits.detail == "This service allows sftp connections only."
    assert "read back over SFTP" in traits.describe()


def test_a_refused_exec_request_means_no_shell() -> None:
    traits = traits_from(None, {"posix-rename@openssh.com"})
    assert not traits.shell
    assert traits.posix_rename
    assert not traits.fsync
    assert "refuses to run commands" in traits.describe()


def test_a_shell_that_quotes_otherwise_is_no_shell() -> None:
    out = answer(EMPTY_SHA256 + b"  /dev/null\0", b"", b"", quoting=b"a'b\"c'd\\e ...")
    traits = traits_from(CommandResult(0, out, b""), OPENSSH)
    assert not traits.shell
    assert traits.stream_hasher is None
    assert not traits.batch_hasher
    assert "does not quote as POSIX sh does" in traits.describe()


def test_fish_which_cannot_even_parse_the_probe_is_no_shell() -> None:
    said = b"fish: Unexpected end of string, quotes are not balanced\necho @1; ...\n"
    traits = traits_from(CommandResult(127, b"", said), OPENSSH)
    assert not traits.shell
    assert traits.detail == "fish: Unexpected end of string, quotes are not balanced"
