"""The bandwidth limit and the abort poll (pacing.py), on a fake clock."""

from __future__ import annotations

import pytest

from circadian_scp_upload.engine.pacing import ABORT_POLL_SECONDS, AbortPoller, Pacer
from circadian_scp_upload.errors import UploadAborted


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_no_limit_never_sleeps() -> None:
    time = FakeTime()
    pacer = Pacer(0, time.clock, time.sleep)
    for _ in range(100):
        pacer(1_000_000)
    assert time.now == 100.0


def test_the_rate_is_kept_over_many_chunks() -> None:
    time = FakeTime()
    pacer = Pacer(1000, time.clock, time.sleep)
    for _ in range(20):
        pacer(100)
    assert time.now - 100.0 == pytest.approx(2.0)


def test_idle_time_saves_up_at_most_a_short_burst() -> None:
    time = FakeTime()
    pacer = Pacer(1000, time.clock, time.sleep)
    pacer(1000)
    time.now += 3600  # an hour between passes
    start = time.now
    pacer(5000)
    assert time.now - start == pytest.approx(5.0)  # no hour of credit


def test_a_changing_rate_takes_effect_at_once() -> None:
    time = FakeTime()
    rate = {"now": 1000}
    pacer = Pacer(lambda: rate["now"], time.clock, time.sleep)
    pacer(1000)
    rate["now"] = 0
    before = time.now
    pacer(10**9)
    assert time.now == before
    rate["now"] = 500
    pacer(1000)
    assert time.now - before == pytest.approx(2.0)


def test_a_long_pacing_wait_is_interrupted_by_an_abort() -> None:
    time = FakeTime()
    pacer = Pacer(10, time.clock, time.sleep)
    polled: list[float] = []

    def poll() -> None:
        polled.append(time.now)
        if len(polled) == 3:
            raise UploadAborted("stop")

    with pytest.raises(UploadAborted):
        pacer(10_000, poll)  # 1000 s worth
    assert time.now - 100.0 < 1.0


def test_the_abort_poll_asks_at_most_twice_a_second() -> None:
    time = FakeTime()
    asked: list[float] = []

    def should_abort() -> bool:
        asked.append(time.now)
        return False

    poll = AbortPoller(should_abort, time.clock)
    for step in range(200):  # two seconds, a call every 10 ms
        time.now = 100.0 + step / 100
        poll()
    assert asked == [100.0 + ABORT_POLL_SECONDS * n for n in (1, 2, 3)]
    with pytest.raises(UploadAborted):
        AbortPoller(lambda: True, time.clock).check()
