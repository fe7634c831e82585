"""The one table that says what each error means: an outcome, how far it reaches, and
the exit code. The library's day loop, the agent's pass and the CLI all read it.

- ``scope``: ``day`` (that day failed, the next day is tried), ``job`` (that source
  folder is skipped this pass, other jobs go on), ``pass`` (the whole pass ends: the
  server refuses everyone, or the link is down and the retry policy takes over).
- ``retry``: the retry policy tries again within the pass (link faults only).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from .errors import (
    AuthenticationError,
    CircadianError,
    ConfigError,
    ExecRefused,
    HostKeyError,
    LocalFileError,
    LockedError,
    PatternError,
    PermanentError,
    RemotePathError,
    TransientError,
    UploadAborted,
)

Scope = Literal["day", "job", "pass"]


class Outcome(str, enum.Enum):
    """How a day, a job or a pass went."""

    OK = "ok"
    IDLE = "idle"  # outside the upload window: no pass was due
    PAUSED = "paused"  # the instrument's pause file exists: no pass, or it stopped for it
    DISABLED = "disabled"  # CSU_ENABLED=false: the configuration kept, nothing uploaded
    STOPPED = "stopped"  # a stop was requested (abort, SIGTERM) while work remained
    FAILED = "failed"  # a day failed, or link faults outlasted the retries
    REFUSED = "refused"  # the server refused (login, host key) or the source is locked
    CONFIG = "config"  # the configuration cannot work as given


@dataclass(frozen=True)
class Rule:
    """What one kind of error means."""

    outcome: Outcome
    scope: Scope
    retry: bool = False


# Most specific first is not needed: ``rule_for`` walks each error's class hierarchy.
RULES: dict[type[BaseException], Rule] = {
    UploadAborted: Rule(Outcome.STOPPED, "pass"),
    ConfigError: Rule(Outcome.CONFIG, "job"),
    PatternError: Rule(Outcome.CONFIG, "job"),
    HostKeyError: Rule(Outcome.REFUSED, "pass"),
    AuthenticationError: Rule(Outcome.REFUSED, "pass"),
    LockedError: Rule(Outcome.REFUSED, "job"),
    RemotePathError: Rule(Outcome.FAILED, "day"),
    LocalFileError: Rule(Outcome.FAILED, "day"),
    ExecRefused: Rule(Outcome.FAILED, "day"),
    PermanentError: Rule(Outcome.REFUSED, "pass"),  # e.g. no algorithm in common
    TransientError: Rule(Outcome.FAILED, "pass", retry=True),
    CircadianError: Rule(Outcome.FAILED, "job"),
    Exception: Rule(Outcome.FAILED, "job"),  # a bug: logged with its traceback
}

EXIT_CODES: dict[Outcome, int] = {
    Outcome.OK: 0,
    Outcome.IDLE: 0,
    Outcome.PAUSED: 0,
    Outcome.DISABLED: 0,
    Outcome.STOPPED: 0,
    Outcome.FAILED: 1,
    Outcome.CONFIG: 2,
    Outcome.REFUSED: 3,
}

EXIT_CODE_MEANINGS: dict[int, str] = {
    0: "success: every ready day is uploaded and verified (or a stop was requested, or "
    "nothing was due: outside the upload window, paused, turned off)",
    1: "a day failed, or link faults outlasted the retries; the next pass retries",
    2: "invalid configuration: the message lists every bad or missing variable",
    3: "the server refused (login, host key) or another agent holds the source",
}

SEVERITY = [
    Outcome.OK,
    Outcome.IDLE,
    Outcome.DISABLED,
    Outcome.PAUSED,
    Outcome.STOPPED,
    Outcome.FAILED,
    Outcome.REFUSED,
    Outcome.CONFIG,
]


def rule_for(error: BaseException) -> Rule:
    """Given an error, return the rule of its most specific class in the table."""
    for kind in type(error).__mro__:
        if kind in RULES:
            return RULES[kind]
    return RULES[Exception]


def is_bug(error: BaseException) -> bool:
    """Return whether ``error`` is none of ours: a bug, to be logged with its traceback."""
    return not isinstance(error, CircadianError)


def worst(outcomes: list[Outcome]) -> Outcome:
    """Return the most severe of ``outcomes`` (OK for none)."""
    return max(outcomes, key=SEVERITY.index, default=Outcome.OK)


def exit_code(outcome: Outcome) -> int:
    """Return the CLI's exit code for an outcome."""
    return EXIT_CODES[outcome]
