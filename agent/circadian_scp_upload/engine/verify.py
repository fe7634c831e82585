"""Remote checksums: one command per day where the server has a shell, reading the
files back over SFTP where it has none.

The shell command never sees a file name: names travel NUL-separated on standard
input to ``xargs -0 sha256sum -z --``, whose NUL-terminated output is not escaped.
Where the server has OpenSSL, ``xargs -0 openssl dgst -sha256 -r`` does the same at a
quarter of the CPU (SHA extensions; Debian's coreutils has none: 0.59 against 2.4 CPU
seconds per GiB here), for days whose names hold no newline or backslash (which it
would print escaped); each name is given as ``./name``, so none is taken for an option.
The only argument on the command line, the day's folder, is quoted with
``shlex.quote``. On SFTP-only servers (``ForceCommand internal-sftp``) the files are
read back and hashed here: it doubles the traffic of verification, but removal of
local data still waits for a real checksum, never for a size check.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable

from loguru import logger

from ..remote.api import OUTPUT_MARK, Remote

HASH_COMMAND = "cd -- {root} && xargs -0 sha256sum -z --"
OPENSSL_HASH_COMMAND = "cd -- {root} && xargs -0 openssl dgst -sha256 -r"
OPENSSL_RECORD = re.compile(rb"^([0-9a-f]{64}) \*\./(.*)$", re.DOTALL)
SYNC_COMMAND = "cd -- {root} && xargs -0 sync --"
RECORD = re.compile(rb"^([0-9a-f]{64}) [ *](.*)$", re.DOTALL)
ASSUMED_REMOTE_HASH_BYTES_PER_SECOND = 20 * 1024 * 1024
SYNC_SECONDS_PER_NAME = 0.05  # an fsync of a file already on disk, with slack


def _records(output: bytes, end: bytes, record: re.Pattern[bytes]) -> dict[str, str]:
    """Return relative path -> hex SHA-256 from a hasher's records, each ending in
    ``end`` and read by ``record`` (group 1 the digest, group 2 the name)."""
    found: dict[str, str] = {}
    for line in output.split(end):
        match = record.match(line)
        if match:
            found[match.group(2).decode("utf-8", "surrogateescape")] = match.group(1).decode()
    return found


def parse_openssl_sums(output: bytes) -> dict[str, str]:
    """Given ``openssl dgst -sha256 -r`` output for ``./name`` arguments (names without
    newline or backslash), return relative path -> hex SHA-256."""
    return _records(output, b"\n", OPENSSL_RECORD)


def openssl_can_name(relpaths: Iterable[str]) -> bool:
    """Whether ``openssl dgst -r`` prints every one of these names unescaped."""
    return not any("\n" in p or "\\" in p for p in relpaths)


def parse_sums(output: bytes) -> dict[str, str]:
    """Given ``sha256sum -z`` output, return relative path -> hex SHA-256."""
    return _records(output, b"\0", RECORD)


class RemoteHasher:
    """Computes SHA-256 checksums of remote files the cheapest way the server allows.

    ``poll`` is called while hashing runs (it may raise to stop; the agent also beats
    its heartbeat there, so a long hash never looks like a hung agent).
    """

    def __init__(self, remote: Remote, poll: Callable[[], None] = lambda: None) -> None:
        self.remote, self.poll = remote, poll
        self.openssl_refused = False  # a forced-command wrapper that only knows sha256sum
        self.batch_broken = False  # the day's hasher gave nothing, once: read back instead
        self._failed = False  # the last hashing command exited with an error

    def file_checksum(self, path: str, size: int) -> str | None:
        """Return the SHA-256 of one remote file, hashed on the server, or None if it
        cannot be (no shell or no hash tool there).

        The file arrives on the hasher's standard input, so its name is only ever a
        quoted redirection target.
        """
        hasher = self.remote.traits().stream_hasher
        if hasher is None:
            return None
        timeout = self.remote.io_timeout + size / ASSUMED_REMOTE_HASH_BYTES_PER_SECOND
        result = self.remote.run(f"{hasher} < {shlex.quote(path)}", timeout=timeout, poll=self.poll)
        words = result.stdout.split()
        digest = words[0].decode("ascii", "replace") if words else ""
        return digest if result.exit_status == 0 and len(digest) == 64 else None

    def checksums(self, root: str, relpaths: Iterable[str], total_bytes: int) -> dict[str, str]:
        """Given a remote folder and relative paths in it, return path -> hex SHA-256.

        Files that are missing on the server are left out of the result.
        """
        wanted = sorted(set(relpaths))
        if not wanted:
            return {}
        if self.remote.traits().batch_hasher and not self.batch_broken:
            # a name holding the output mark is read back: where a wrapper prints no
            # mark, a line in such a name could stand for another file's answer
            marked = [p for p in wanted if OUTPUT_MARK in p]
            plain = [p for p in wanted if OUTPUT_MARK not in p]
            found = self._shell(root, plain, total_bytes) if plain else {}
            # names the hasher gave no checksum while it failed are read back, as a
            # single file is when its hasher fails (a file that is missing costs a look)
            unanswered = [p for p in plain if p not in found] if self._failed else []
            back = self._readback(root, marked + unanswered)
            if unanswered and not found and any(p in back for p in unanswered):
                self._give_up_batches()
            return found | back
        return self._readback(root, wanted)

    def _give_up_batches(self) -> None:
        """The day's hasher answered for none of the files that are there (no ``xargs``,
        a broken ``openssl``): it is not asked again on this connection."""
        self.batch_broken = True
        logger.warning(
            "{}: hashing on the server failed for every file of a day: files are read back "
            "over SFTP to prove them from now on (twice the traffic); check `xargs`, "
            "`sha256sum` and `openssl` there",
            self.remote.where,
        )

    def _shell(self, root: str, relpaths: list[str], total_bytes: int) -> dict[str, str]:
        """Hash the files by one command: OpenSSL's form where it can name them all,
        then ``sha256sum -z`` for exactly the names that got no line from it (missing
        files give none either way). Only a wrapper's explicit refusal of the OpenSSL
        form ("refused") makes this hasher use ``sha256sum`` alone from then on."""
        openssl = (self.remote.traits().stream_hasher or "").startswith("openssl")
        found: dict[str, str] = {}
        if openssl and not self.openssl_refused and openssl_can_name(relpaths):
            found, refused = self._command(root, relpaths, total_bytes, openssl=True)
            if refused:
                self.openssl_refused = True  # an older csu-only: sha256sum from now on
        rest = [p for p in relpaths if p not in found]
        if rest:
            found.update(self._command(root, rest, total_bytes, openssl=False)[0])
        return found

    def _command(
        self, root: str, relpaths: list[str], total_bytes: int, openssl: bool
    ) -> tuple[dict[str, str], bool]:
        """Hash the files by one command; return what it found, and whether the server
        refused the command itself (a forced-command wrapper that does not know it)."""
        if openssl:
            command = OPENSSL_HASH_COMMAND.format(root=shlex.quote(root))
            parse, prefix = parse_openssl_sums, b"./"
        else:
            command, parse, prefix = HASH_COMMAND.format(root=shlex.quote(root)), parse_sums, b""
        stdin = b"".join(prefix + p.encode("utf-8", "surrogateescape") + b"\0" for p in relpaths)
        # Output comes per file: allow the server time to hash the largest one.
        timeout = self.remote.io_timeout + total_bytes / ASSUMED_REMOTE_HASH_BYTES_PER_SECOND
        result = self.remote.run(command, stdin, timeout=timeout, poll=self.poll)
        found = parse(result.stdout)
        refused = False
        self._failed = result.exit_status != 0
        if result.exit_status != 0:
            logger.debug(
                "remote hashing in {} exited {}: {}",
                root,
                result.exit_status,
                result.stderr.decode(errors="replace")[:500],
            )
            refused = not found and b"refused" in result.stderr
        return {p: found[p] for p in relpaths if p in found}, refused

    def sync(self, root: str, relpaths: Iterable[str], total_bytes: int = 0) -> bool:
        """Make files below a remote folder durable with their names: ``sync`` of each file
        and of every folder from it up to ``root`` (names NUL-separated on standard
        input, never on the command line). Return whether it succeeded."""
        names: set[str] = {"."}
        for relpath in relpaths:
            names.add(relpath)
            folder = posixpath.dirname(relpath)
            while folder:
                names.add(folder)
                folder = posixpath.dirname(folder)
        stdin = b"".join(n.encode("utf-8", "surrogateescape") + b"\0" for n in sorted(names))
        # sync prints nothing while it works: allow for its writing out what is not yet
        timeout = (
            self.remote.io_timeout
            + len(names) * SYNC_SECONDS_PER_NAME
            + total_bytes / ASSUMED_REMOTE_HASH_BYTES_PER_SECOND
        )
        result = self.remote.run(
            SYNC_COMMAND.format(root=shlex.quote(root)), stdin, timeout=timeout, poll=self.poll
        )
        if result.exit_status != 0:
            logger.debug(
                "sync in {} exited {}: {}",
                root,
                result.exit_status,
                result.stderr.decode(errors="replace")[:500],
            )
        return result.exit_status == 0

    def read_back(self, path: str, _size: int = 0) -> str | None:
        """Return the SHA-256 of one remote file read back over SFTP (None if absent)."""
        return read_back(self.remote, path, self.poll)

    def _readback(self, root: str, relpaths: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for relpath in relpaths:
            digest = self.read_back(posixpath.join(root, relpath))
            if digest is not None:
                found[relpath] = digest
        return found


def read_back(remote: Remote, path: str, poll: Callable[[], None] = lambda: None) -> str | None:
    """Return the SHA-256 of one remote file read back over ``remote``'s SFTP channel
    (None if it is absent); ``poll`` is called after every piece."""
    entry = remote.stat(path)
    if entry is None or not entry.is_file:
        return None
    digest = hashlib.sha256()
    for chunk in remote.read_file(path):
        digest.update(chunk)
        poll()
    return digest.hexdigest()
