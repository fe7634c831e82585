"""Checksums on the server (engine/verify.py): OpenSSL where it is there and can name
every file unescaped, coreutils' sha256sum -z otherwise."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

from circadian_scp_upload.engine.verify import RemoteHasher, parse_openssl_sums
from circadian_scp_upload.remote.api import CommandResult
from tests.unit.fake_remote import FULL_TRAITS, MemoryRemote

OPENSSL = dataclasses.replace(FULL_TRAITS, stream_hasher="openssl dgst -sha256 -r")


def day_with(names: list[str]) -> MemoryRemote:
    remote = MemoryRemote(server_traits=OPENSSL)
    remote.folders |= {"/d", "/d/sub"}
    for name in names:
        remote.files[f"/d/{name}"] = name.encode("utf-8", "surrogateescape") * 3
    return remote


def test_openssl_hashes_a_day_of_plain_names() -> None:
    names = ["a.txt", "sub/b c.dat", "-dash", "sub/\udcff-not-utf8"]
    remote = day_with(names)
    found = RemoteHasher(remote).checksums("/d", [*names, "missing"], 100)
    commands = [c for kind, c in remote.log if kind == "run"]
    # the missing file got no line from OpenSSL; sha256sum is asked for it alone
    assert commands == [
        "cd -- /d && xargs -0 openssl dgst -sha256 -r",
        "cd -- /d && xargs -0 sha256sum -z --",
    ]
    assert remote.stdins[-1] == b"missing\0"
    assert found == {
        n: hashlib.sha256(n.encode("utf-8", "surrogateescape") * 3).hexdigest() for n in names
    }


def test_a_name_openssl_would_escape_sends_the_day_to_sha256sum() -> None:
    names = ["a.txt", "new\nline", "back\\slash"]
    remote = day_with(names)
    found = RemoteHasher(remote).checksums("/d", names, 100)
    commands = [c for kind, c in remote.log if kind == "run"]
    assert commands == ["cd -- /d && xargs -0 sha256sum -z --"]
    assert set(found) == set(names)


def test_openssl_output_is_read_by_its_dot_slash_names() -> None:
    digest = "ab" * 32
    output = f"{digest} *./x y\n{digest} *./-z\nnot a record\n".encode()
    assert parse_openssl_sums(output) == {"x y": digest, "-z": digest}


def answering(remote: MemoryRemote, answer: Callable[[str], CommandResult | None]) -> None:
    """Let ``answer`` reply to the commands it knows (logged as the fake logs them);
    the fake's shell answers the rest."""
    shell = remote.run

    def run(command: str, stdin: bytes = b"", **options: Any) -> CommandResult:
        said = answer(command)
        if said is None:
            return shell(command, stdin, **options)
        remote.log.append(("run", command))
        return said

    remote.run = run  # type: ignore[method-assign, assignment]


def old_wrapper(command: str) -> CommandResult | None:
    """A forced-command wrapper from before the OpenSSL form: it refuses it."""
    refused = b"csu-only: refused: 'cd -- /d && xargs ...'"
    return CommandResult(1, b"", refused) if "openssl" in command else None


def test_a_wrapper_that_refuses_openssl_gets_sha256sum_from_then_on() -> None:
    remote = MemoryRemote(server_traits=OPENSSL)
    answering(remote, old_wrapper)
    remote.folders.add("/d")
    remote.files["/d/a"] = b"a"
    hasher = RemoteHasher(remote)
    assert hasher.checksums("/d", ["a"], 1) == {"a": hashlib.sha256(b"a").hexdigest()}
    assert hasher.checksums("/d", ["a"], 1) == {"a": hashlib.sha256(b"a").hexdigest()}
    commands = [c.split("&& ")[1] for kind, c in remote.log if kind == "run"]
    assert commands == [
        "xargs -0 openssl dgst -sha256 -r",
        "xargs -0 sha256sum -z --",
        "xargs -0 sha256sum -z --",
    ]


def test_a_failure_that_is_no_refusal_verifies_nothing_and_keeps_openssl() -> None:
    remote = MemoryRemote(server_traits=OPENSSL)
    # a day whose files this account may not read: OpenSSL fails, and it is no refusal
    answering(remote, lambda _command: CommandResult(123, b"", b"./a: Permission denied\n"))
    hasher = RemoteHasher(remote)
    assert hasher.checksums("/d", ["a"], 1) == {}
    assert not hasher.openssl_refused
    assert hasher.checksums("/d", ["a"], 1) == {}
    commands = [c.split("&& ")[1] for kind, c in remote.log if kind == "run"]
    assert commands == [
        "xargs -0 openssl dgst -sha256 -r",
        "xargs -0 sha256sum -z --",
        "xargs -0 openssl dgst -sha256 -r",
        "xargs -0 sha256sum -z --",
    ]


def test_a_name_holding_the_output_mark_is_read_back_not_hashed_by_command() -> None:
    names = ["a.txt", "sub/x<csu-output>y"]
    remote = day_with(names)
    found = RemoteHasher(remote).checksums("/d", names, 100)
    assert found == {
        n: hashlib.sha256(n.encode("utf-8", "surrogateescape") * 3).hexdigest() for n in names
    }
    assert remote.stdins == [b"./a.txt\0"]  # the command never saw the marked name


def test_a_broken_day_hasher_falls_back_to_reading_back_and_is_not_asked_again() -> None:
    """No ``xargs`` (or a broken ``openssl``) on the server: the day's command answers
    for none of the files that are there. They are read back and proven, as a single
    file is when its hasher fails, and the command is not tried again."""
    names = ["a.txt", "sub/b.dat"]
    remote = day_with(names)
    answering(remote, lambda _c: CommandResult(127, b"", b"sh: 1: xargs: not found\n"))
    hasher = RemoteHasher(remote)
    expected = {n: hashlib.sha256(n.encode() * 3).hexdigest() for n in names}
    assert hasher.checksums("/d", [*names, "missing"], 100) == expected
    assert hasher.batch_broken
    runs = len([kind for kind, _c in remote.log if kind == "run"])
    assert hasher.checksums("/d", names, 100) == expected
    assert len([kind for kind, _c in remote.log if kind == "run"]) == runs  # not asked again


def test_a_missing_file_alone_does_not_count_as_a_broken_hasher() -> None:
    remote = day_with([])
    hasher = RemoteHasher(remote)
    assert hasher.checksums("/d", ["missing"], 1) == {}
    assert not hasher.batch_broken
