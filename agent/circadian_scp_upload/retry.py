"""The retry policy, in tenacity's terms: which faults, how long to wait, when to give up.

Only ``TransientError`` is retried (link faults, timeouts, a server that is restarting);
refusals (``PermanentError``) and bad configuration never are. Waits grow exponentially
with jitter up to a cap, and a pass gives up after a total time, leaving the rest to
the next pass. Each retry is logged with its reason and wait. Sleeping goes through a
seam so tests run in milliseconds and a stop signal interrupts a wait at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from loguru import logger
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from .errors import TransientError

DEFAULT_INITIAL_WAIT_SECONDS = 1.0


class stop_when_event_set(stop_base):  # named like tenacity's own
    """Stop retrying once a stop was requested (SIGTERM)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.event.is_set()


def log_retry(retry_state: RetryCallState) -> None:
    """Log why an attempt failed and how long the agent waits before the next one."""
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    wait = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
    logger.warning(
        "attempt {} failed ({}); retrying in {:.1f} s", retry_state.attempt_number, error, wait
    )


def retrying(
    max_wait: float,
    give_up_after: float,
    stop_event: threading.Event,
    sleep: Callable[[float], None] | None = None,
    initial_wait: float = DEFAULT_INITIAL_WAIT_SECONDS,
) -> Retrying:
    """Return the policy: retry transient faults with capped exponential backoff and jitter.

    Waits start at ``initial_wait``, double each time up to ``max_wait``, and get up to
    ``initial_wait`` of random jitter so that many stations do not retry in lockstep.
    """
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_exponential_jitter(initial=initial_wait, max=max_wait, jitter=initial_wait),
        stop=stop_after_delay(give_up_after) | stop_when_event_set(stop_event),
        sleep=sleep if sleep is not None else _event_sleep(stop_event),
        before_sleep=log_retry,
        reraise=True,
    )


def _event_sleep(event: threading.Event) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        event.wait(seconds)

    return sleep
