"""The retry policy, in tenacity's terms: which faults, how long to wait, when to give up.

Only errors whose rule in ``outcomes.RULES`` says ``retry`` (link faults, timeouts, a
server that is restarting) are retried; refusals and bad configuration never are.

The backoff respects progress. A cellular link that drops every few minutes cuts
attempts that each moved megabytes; doubling the wait after each of them would leave
the link idle most of the pass. So the wait grows exponentially (with jitter, up to a
cap) only over attempts that moved no data, and starts again from the first wait after
an attempt that did; and the pass gives up after a time *without progress*, not after
a total time. Progress is a number that grows while bytes move (the pacer's count of
bytes sent). Each retry is logged with its reason and wait, and the time spent waiting
is kept for the job's summary. Sleeping goes through a seam so tests run in
milliseconds, and a stop request interrupts a wait at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from loguru import logger
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    sleep_using_event,
)

from ..outcomes import rule_for

DEFAULT_INITIAL_WAIT_SECONDS = 1.0


def is_retried(error: BaseException) -> bool:
    """Return whether the outcome table says ``error`` is worth another attempt."""
    return rule_for(error).retry


class Backoff:
    """Waits and give-up time of one series of attempts, reset by progress.

    ``progress`` returns a number that grows while data moves. After each failed
    attempt (tenacity's ``after``), an attempt that moved it starts the backoff again
    and restarts the give-up clock; ``wait`` and ``stop`` read that state.
    """

    def __init__(
        self,
        initial_wait: float,
        max_wait: float,
        give_up_after: float,
        progress: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[float], float] = lambda most: random.uniform(0, most),
    ) -> None:
        self.initial_wait, self.max_wait, self.give_up_after = initial_wait, max_wait, give_up_after
        self.progress, self.clock, self.jitter = progress, clock, jitter
        self.mark = progress()
        self.last_progress_at = clock()
        self.idle_attempts = 0  # failed attempts since the last one that moved data
        self.retries = 0
        self.waited = 0.0

    def after_attempt(self, _retry_state: RetryCallState) -> None:
        """Note a failed attempt: did it move data?"""
        now = self.progress()
        if now != self.mark:
            self.mark = now
            self.last_progress_at = self.clock()
            self.idle_attempts = 0
        self.idle_attempts += 1

    def wait(self, _retry_state: RetryCallState) -> float:
        """The next wait: the first wait doubled per failed attempt without progress."""
        exponent = min(self.idle_attempts - 1, 62)
        base = min(self.max_wait, self.initial_wait * 2.0**exponent)
        return min(self.max_wait, base + self.jitter(self.initial_wait))

    def stop(self, _retry_state: RetryCallState) -> bool:
        """Give up once no data has moved for ``give_up_after`` seconds."""
        return self.clock() - self.last_progress_at >= self.give_up_after

    def before_sleep(self, retry_state: RetryCallState) -> None:
        """Log why an attempt failed and how long the agent waits; count the wait."""
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
        self.retries += 1
        self.waited += wait
        logger.warning(
            "attempt {} failed ({}); retrying in {:.1f} s", retry_state.attempt_number, error, wait
        )

    def summary(self) -> str:
        """``3 retries after link faults, 4.2 s spent waiting`` (empty: no retry)."""
        if not self.retries:
            return ""
        noun = "retry" if self.retries == 1 else "retries"
        return f"{self.retries} {noun} after link faults, {self.waited:.1f} s spent waiting"


def retrying(
    backoff: Backoff,
    stop_event: threading.Event,
    sleep: Callable[[float], None] | None = None,
) -> Retrying:
    """Return the policy: retry link faults, waiting and giving up as ``backoff`` says."""
    return Retrying(
        retry=retry_if_exception(is_retried),
        after=backoff.after_attempt,
        wait=backoff.wait,
        stop=lambda state: stop_event.is_set() or backoff.stop(state),
        sleep=sleep if sleep is not None else sleep_using_event(stop_event),
        before_sleep=backoff.before_sleep,
        reraise=True,
    )
