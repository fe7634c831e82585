"""What a server offers, found once per connection: its shell, hash tools, SFTP extensions.

One exec request answers the shell questions; markers separate the answers. Where there
is a shell, a second one asks whether ``sync`` takes names (to make renames durable):
kept apart so that a forced command that knows only the first (an older ``csu-only``)
still gets hashing on the server, and only refuses the second. The SFTP extensions come
from the server's VERSION packet, at no cost.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Collection

from .api import CommandResult, ServerTraits

# A string that only a POSIX shell gives back unchanged from shlex.quote's quoting: fish
# reads backslash escapes inside single quotes; csh and tcsh refuse a line break there
# and expand ``!``.
QUOTING_TORTURE = "a'b\"c\\'d\\\\e $(f) `g` ${h} *?[i] ~j ;k&l|m<n>o #p !q\nr\\"
PROBE = (
    "echo @1; sha256sum -z -- /dev/null; echo @2; "
    "openssl dgst -sha256 -r < /dev/null; echo @3; sha256sum < /dev/null; echo @4; "
    f"printf '%s\\n' {shlex.quote(QUOTING_TORTURE)}; echo @5"
)
# Whether ``sync`` fsyncs the names it is given (GNU coreutils 8.24 and later, BusyBox
# 1.30 and later: their usage names FILE), through ``xargs -0`` as the agent uses it.
# An older one ignores names and syncs every filesystem (a hung NFS mount hangs it), so
# it is not run unless its usage says it takes names; any word on stderr (``ignoring all
# arguments``) or a missing ``-0`` makes the answer something other than ``synced``.
SYNC_PROBE = (
    "sync --help 2>&1 | grep -q FILE && printf '.\\0' | xargs -0 sync -- 2>&1 && echo synced"
)
SYNCED = b"synced"
EMPTY_SHA256 = b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# OpenSSL's SHA-256 uses the CPU's SHA instructions, coreutils' does not (here: 0.4 s
# against 1.5 s for 512 MiB), so it goes first.
STREAM_HASHERS = (("openssl dgst -sha256 -r", "2"), ("sha256sum", "3"))


def parse_probe(stdout: bytes) -> dict[str, bytes]:
    """Split the probe's output into its answers, keyed by the marker before each."""
    answers: dict[str, bytes] = {}
    for piece in stdout.split(b"@")[1:]:
        key, _, value = piece.partition(b"\n")
        answers[key.decode("ascii", "replace")] = value.strip(b"\n\0 ")
    return answers


def traits_from(result: CommandResult | None, extensions: Collection[str]) -> ServerTraits:
    """Given the probe's result (None: exec refused) and the SFTP extensions, decide."""
    fsync = "fsync@openssh.com" in extensions
    posix_rename = "posix-rename@openssh.com" in extensions
    statvfs = "statvfs@openssh.com" in extensions
    hardlink = "hardlink@openssh.com" in extensions
    if result is None:
        return ServerTraits(
            detail="the server refuses to run commands",
            fsync=fsync,
            posix_rename=posix_rename,
            statvfs=statvfs,
            hardlink=hardlink,
        )
    answers = parse_probe(result.stdout)
    ran = "5" in answers
    quotes = answers.get("4", b"") == QUOTING_TORTURE.encode()
    shell = ran and quotes
    said = (result.stderr or result.stdout).decode("utf-8", "replace").strip().splitlines()
    detail = said[0][:200] if said else f"the command exited {result.exit_status}"
    if ran and not quotes:
        detail = "the login shell does not quote as POSIX sh does (fish?), so no command is run"
    return ServerTraits(
        shell=shell,
        batch_hasher=shell and answers.get("1", b"").startswith(EMPTY_SHA256),
        stream_hasher=next(
            (cmd for cmd, key in STREAM_HASHERS if answers.get(key, b"").startswith(EMPTY_SHA256)),
            None,
        )
        if shell
        else None,
        detail="" if shell else detail,
        fsync=fsync,
        posix_rename=posix_rename,
        statvfs=statvfs,
        hardlink=hardlink,
    )


def probe(run: Callable[[str], CommandResult | None], extensions: Collection[str]) -> ServerTraits:
    """Run the probe command through ``run`` and return the server's traits; where there
    is a shell, also ask whether its ``sync`` takes names."""
    traits = traits_from(run(PROBE), extensions)
    if traits.shell:
        answer = run(SYNC_PROBE)
        synced = answer is not None and answer.exit_status == 0 and answer.stdout.strip() == SYNCED
        traits = dataclasses.replace(traits, folder_sync=synced)
    return traits
