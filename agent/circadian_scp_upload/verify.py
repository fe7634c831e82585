"""Remote checksums: one ``sha256sum`` command per day where the server has a shell,
reading the files back over SFTP where it has none.

The shell command never sees a file name: names travel NUL-separated on standard
input to ``xargs -0 sha256sum -z --``, whose NUL-terminated output is not escaped.
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
from typing import Literal

from loguru import logger

from .connection import RemoteConnection

HASH_COMMAND = "cd -- {root} && xargs -0 sha256sum -z --"
RECORD = re.compile(rb"^([0-9a-f]{64}) [ *](.*)$", re.DOTALL)
ASSUMED_REMOTE_HASH_BYTES_PER_SECOND = 20 * 1024 * 1024
Method = Literal["shell", "readback"]


class RemoteHasher:
    """Computes SHA-256 checksums of remote files, choosing the method once per server."""

    def __init__(self, connection: RemoteConnection, method: Method | None = None) -> None:
        self.connection = connection
        self.method = method
        self._stream_hasher: str | None = None

    def stream_hasher(self, on_info: Callable[[str], None]) -> str | None:
        """Return the command that checksums stdin on the server, or None (no shell)."""
        if self.detect(on_info) != "shell":
            return None
        return self.connection.capabilities().stream_hasher

    def detect(self, on_info: Callable[[str], None]) -> Method:
        """Probe the server once; return the method used from now on."""
        if self.method is None:
            found = self.connection.capabilities()
            if found.sha256sum:
                self.method = "shell"
            else:
                self.method = "readback"
                on_info(
                    f"{self.connection.where} runs no `sha256sum -z` "
                    f"({found.detail or 'no shell'}): verifying by reading files back over SFTP"
                )
        return self.method

    def file_checksum(self, path: str, size: int, on_info: Callable[[str], None]) -> str | None:
        """Return the SHA-256 of one remote file, hashed on the server, or None if unknown.

        Uses the fastest stream hasher the server has (the file arrives on its standard
        input, so its name is only ever a quoted redirection target).
        """
        hasher = self.stream_hasher(on_info)
        if hasher is None:
            return None
        timeout = self.connection.io_timeout + size / ASSUMED_REMOTE_HASH_BYTES_PER_SECOND
        result = self.connection.run(f"{hasher} < {shlex.quote(path)}", timeout=timeout)
        words = result.stdout.split()
        digest = words[0].decode("ascii", "replace") if words else ""
        return digest if result.exit_status == 0 and len(digest) == 64 else None

    def checksums(
        self, root: str, relpaths: Iterable[str], total_bytes: int, on_info: Callable[[str], None]
    ) -> dict[str, str]:
        """Given a remote folder and relative paths in it, return path -> hex SHA-256.

        Files that are missing on the server are left out of the result.
        """
        wanted = sorted(set(relpaths))
        if not wanted:
            return {}
        if self.detect(on_info) == "shell":
            return self._shell(root, wanted, total_bytes)
        return self._readback(root, wanted)

    def _shell(self, root: str, relpaths: list[str], total_bytes: int) -> dict[str, str]:
        command = HASH_COMMAND.format(root=shlex.quote(root))
        stdin = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in relpaths)
        # Output comes per file: allow the server time to hash the largest one.
        timeout = self.connection.io_timeout + total_bytes / ASSUMED_REMOTE_HASH_BYTES_PER_SECOND
        result = self.connection.run(command, stdin, timeout=timeout)
        found: dict[str, str] = {}
        for record in result.stdout.split(b"\0"):
            match = RECORD.match(record)
            if match:
                name = match.group(2).decode("utf-8", "surrogateescape")
                found[name] = match.group(1).decode("ascii")
        if result.exit_status != 0:
            logger.debug(
                "remote hashing in {} exited {}: {}",
                root,
                result.exit_status,
                result.stderr.decode(errors="replace")[:500],
            )
        return {p: found[p] for p in relpaths if p in found}

    def _readback(self, root: str, relpaths: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for relpath in relpaths:
            path = posixpath.join(root, relpath)
            entry = self.connection.stat(path)
            if entry is None or not entry.is_file:
                continue
            digest = hashlib.sha256()
            for chunk in self.connection.iter_file(path):
                digest.update(chunk)
            found[relpath] = digest.hexdigest()
        return found
