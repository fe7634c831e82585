"""The retry policy, in tenacity's terms: which faults, how long to wait, when to give up.

Only errors whose rule in ``outcomes.RULES`` says ``retry`` (link faults, timeouts, a
server that is restarting) are retried; refusals and bad configuration never are.
Waits grow exponentially with jitter up to a cap, and a pass gives up after a total
time, leaving the rest to the next pass. Each retry is logged with its reason and wait.
Sleeping goes through a seam so tests run in milliseconds, and a stop request
interrupts a wait at once (tenacity's ``sleep_using_event``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from loguru import logger
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    sleep_using_event,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential_jitter,
)

from .outcomes import rule_for

DEFAULT_INITIAL_WAIT_SECONDS = 1.0


def is_retried(error: BaseException) -> bool:
    """Return whether the outcome table says ``error`` is worth another attempt."""
    return rule_for(error).retry


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
    """Return the policy: retry link faults with capped exponential backoff and jitter.

    Waits start at ``initial_wait``, double each time up to ``max_wait``, and get up to
    ``initial_wait`` of random jitter so that many stations do not retry in lockstep.
    """
    return Retrying(
        retry=retry_if_exception(is_retried),
        wait=wait_exponential_jitter(initial=initial_wait, max=max_wait, jitter=initial_wait),
        stop=stop_after_delay(give_up_after) | stop_when_event_set(stop_event),
        sleep=sleep if sleep is not None else sleep_using_event(stop_event),
        before_sleep=log_retry,
        reraise=True,
    )
