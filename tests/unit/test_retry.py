"""The retry policy: transient faults retried with capped backoff that progress resets;
refusals never; giving up counts time without progress."""

from __future__ import annotations

import threading

import pytest
from tenacity import Retrying

from circadian_scp_upload import AuthenticationError, TransientError
from circadian_scp_upload.station.retry import Backoff, retrying


class Link:
    """A fake clock and byte counter: attempts move bytes and take time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.moved = 0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def backoff(self, max_wait: float = 8.0, give_up: float = 1000.0) -> Backoff:
        return Backoff(1.0, max_wait, give_up, lambda: self.moved, lambda: self.now)


def attempt_until_done(
    policy: Retrying, fault: Exception, fail_times: int, during: object = None
) -> int:
    """Run attempts under ``policy``, failing the first ``fail_times`` (calling
    ``during(attempt)`` inside each); return the count."""
    attempts = 0
    for attempt in policy:
        with attempt:
            attempts += 1
            if callable(during):
                during(attempts)
            if attempts <= fail_times:
                raise fault
    return attempts


def test_attempts_that_move_nothing_wait_longer_and_longer_up_to_the_cap() -> None:
    link = Link()
    backoff = link.backoff()
    attempts = attempt_until_done(
        retrying(backoff, threading.Event(), link.sleep), TransientError("link reset"), 7
    )
    assert attempts == 8
    assert len(link.slept) == 7
    for index, waited in enumerate(link.slept):  # 1, 2, 4, 8, 8... plus up to 1 s of jitter
        base = min(2.0**index, 8.0)
        assert base <= waited <= min(base + 1.0, 8.0)
    assert backoff.retries == 7
    assert backoff.waited == pytest.approx(sum(link.slept))
    waited = sum(link.slept)
    assert backoff.summary() == f"7 retries after link faults, {waited:.1f} s spent waiting"


def test_an_attempt_that_moved_data_starts_the_backoff_again() -> None:
    link = Link()

    def move(_attempt: int) -> None:  # each attempt moves megabytes, then the link drops
        link.moved += 3_000_000
        link.now += 20.0

    attempt_until_done(
        retrying(link.backoff(), threading.Event(), link.sleep), TransientError("cut"), 12, move
    )
    assert len(link.slept) == 12
    assert all(1.0 <= waited <= 2.0 for waited in link.slept), link.slept


def test_giving_up_counts_time_without_progress_not_the_total() -> None:
    link = Link()

    def move(attempt: int) -> None:  # five long attempts that each move data, then nothing
        link.now += 100.0
        if attempt <= 5:
            link.moved += 1

    policy = retrying(link.backoff(give_up=150.0), threading.Event(), link.sleep)
    with pytest.raises(TransientError):
        attempt_until_done(policy, TransientError("cut"), 99, move)
    # 500 s of attempts that moved data never count towards the 150 s; after the fifth,
    # the sixth (100 s) and the wait before it, then the seventh pass the limit.
    assert len(link.slept) == 6


def test_permanent_refusals_are_not_retried() -> None:
    link = Link()
    policy = retrying(link.backoff(), threading.Event(), link.sleep)
    with pytest.raises(AuthenticationError):
        attempt_until_done(policy, AuthenticationError("refused"), fail_times=99)
    assert link.slept == []


def test_a_stop_request_ends_retrying() -> None:
    event = threading.Event()
    policy = retrying(Backoff(1.0, 1.0, 1000.0), event, lambda _s: event.set())
    with pytest.raises(TransientError):
        attempt_until_done(policy, TransientError("down"), fail_times=99)
    assert event.is_set()
