"""One small error tree, split by what the caller should do about it.

- ``ConfigError``: the input is wrong (pattern, path, option); fix it and restart.
- ``TransientError``: the link or the server failed for now; retrying later can succeed.
- ``PermanentError``: the server refuses (authentication, host key, permissions, a file
  where a folder should be); retrying will not help until someone changes something.
- ``LocalFileError``: a local file or folder could not be read, written or removed.
- ``UploadAborted``: ``should_abort_upload`` asked to stop.

Every message names what failed, where, and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence


class CircadianError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(CircadianError, ValueError):
    """The given configuration or argument is invalid.

    ``problems`` lists (option, message) pairs when several options are wrong at once;
    the option is the parameter's name (``key_filename``), or "" when none applies.
    """

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [("", message)]


class PatternError(ConfigError):
    """A dated-name pattern breaks one of the pattern rules."""


class TransientError(CircadianError):
    """A failure of the link or the server that a later attempt can overcome."""


class PermanentError(CircadianError):
    """A refusal that repeats until a person changes something."""


class HostKeyError(PermanentError):
    """The server's host key is unknown or does not match the trusted one."""


class AuthenticationError(PermanentError):
    """The server refused the credentials."""


class RemotePathError(PermanentError):
    """A remote path cannot be used: missing permission, or a file where a folder belongs."""


class LockedError(PermanentError):
    """Another agent holds the lock on the same source folder."""


class LocalFileError(CircadianError):
    """A local file or folder could not be read, written or removed (I/O error, a file
    deleted or made unreadable after screening): that day fails, the others go on."""


class ExecRefused(PermanentError):
    """The server refused to run a command (no shell, or exec requests not allowed)."""


class UploadAborted(CircadianError):
    """The ``should_abort_upload`` callback asked to stop."""
