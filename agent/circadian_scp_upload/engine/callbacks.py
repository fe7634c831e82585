"""The callbacks through which a host program steers and observes the upload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..source.patterns import DatedPattern

DEFAULT_DATED_REGEX = r"^%Y%m%d$"


def _print_info(message: str) -> None:
    print(f"INFO - {message}")


def _print_error(message: str) -> None:
    print(f"ERROR - {message}")


def _never_abort() -> bool:
    return False


@dataclass
class UploadClientCallbacks:
    """Pattern, log sinks and abort switch of an upload; every field is optional.

    ``dated_regex`` is validated here: a bad pattern raises ``PatternError`` (a
    ``ValueError``) naming the rule it breaks.
    """

    dated_regex: str = DEFAULT_DATED_REGEX
    log_info: Callable[[str], None] = _print_info
    log_error: Callable[[str], None] = _print_error
    should_abort_upload: Callable[[], bool] = _never_abort
    dated_pattern: DatedPattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.dated_pattern = DatedPattern(self.dated_regex)
