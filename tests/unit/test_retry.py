"""The retry policy: transient faults retried with capped backoff; refusals never."""

from __future__ import annotations

import threading

import pytest
from tenacity import Retrying

from circadian_scp_upload import AuthenticationError, TransientError
from circadian_scp_upload.retry import retrying


def attempt_until_done(policy: Retrying, fault: Exception, fail_times: int) -> int:
    """Run attempts under ``policy``, failing the first ``fail_times``; return the count."""
    attempts = 0
    for attempt in policy:
        with attempt:
            attempts += 1
            if attempts <= fail_times:
                raise fault
    return attempts


def run(fault: Exception, fail_times: int, max_wait: float = 8.0) -> tuple[int, list[float]]:
    slept: list[float] = []
    policy = retrying(max_wait, 1000.0, threading.Event(), slept.append)
    return attempt_until_done(policy, fault, fail_times), slept


def test_transient_faults_are_retried_with_growing_capped_waits() -> None:
    attempts, slept = run(TransientError("link reset"), fail_times=7)
    assert attempts == 8
    assert len(slept) == 7
    for index, waited in enumerate(slept):  # 1, 2, 4, 8, 8... plus up to 1 s of jitter
        base = min(2.0**index, 8.0)
        assert base <= waited <= min(base + 1.0, 8.0)


def test_permanent_refusals_are_not_retried() -> None:
    slept: list[float] = []
    policy = retrying(8.0, 1000.0, threading.Event(), slept.append)
    with pytest.raises(AuthenticationError):
        attempt_until_done(policy, AuthenticationError("refused"), fail_times=99)
    assert slept == []


def test_a_stop_request_ends_retrying() -> None:
    event = threading.Event()
    policy = retrying(1.0, 1000.0, event, lambda _s: event.set())
    with pytest.raises(TransientError):
        attempt_until_done(policy, TransientError("down"), fail_times=99)
    assert event.is_set()
