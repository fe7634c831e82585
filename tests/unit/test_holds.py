"""The holds on a pass (station/holds/): one order, one wording to every outlet, and a
new hold is one module and one line in ``build``."""

from __future__ import annotations

import datetime
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from loguru import logger

from circadian_scp_upload.config.load import load_settings
from circadian_scp_upload.config.schedule import UploadWindow
from circadian_scp_upload.outcomes import Outcome
from circadian_scp_upload.station import holds
from circadian_scp_upload.station.agent import Agent
from circadian_scp_upload.station.holds import Held, first_held
from circadian_scp_upload.station.holds.base import Hold
from circadian_scp_upload.station.status import read_status
from tests.integration.monitor import Monitor

NOON = datetime.datetime(2024, 9, 17, 12, 0, tzinfo=datetime.timezone.utc)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A station whose server does not exist: a held pass never connects."""
    return {
        "CSU_HOST": "127.0.0.1",
        "CSU_PORT": "9",  # discard: nothing answers, and nothing may try
        "CSU_USER": "station",
        "CSU_PASSWORD": "station-pw",
        "CSU_SRC": str(tmp_path / "src"),
        "CSU_DST": "/srv/data",
        "CSU_TIMEZONE": "UTC",
        "CSU_STATE_DIR": str(tmp_path / "state"),
        "CSU_INTERVAL_SECONDS": "60",
        **extra,
    }


class Says:
    """A hold that always holds, with its own wording (for the order)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def at_start(self, now: datetime.datetime) -> Held | None:
        return Held(self.name, f"{self.name} at start", Outcome.PAUSED)

    def between_files(self, now: datetime.datetime) -> Held | None:
        return Held(self.name, f"{self.name} between files", Outcome.STOPPED)


class Never:
    def at_start(self, now: datetime.datetime) -> Held | None:
        return None

    def between_files(self, now: datetime.datetime) -> Held | None:
        return None


def test_the_first_hold_in_the_order_decides() -> None:
    order: list[Hold] = [Never(), Says("first"), Says("second")]
    assert first_held(order, NOON) == Held("first", "first at start", Outcome.PAUSED)
    assert first_held(order, NOON, between_files=True) == Held(
        "first", "first between files", Outcome.STOPPED
    )
    assert first_held([Never(), Never()], NOON) is None


def test_build_asks_turned_off_then_the_pause_file_then_the_window(tmp_path: Path) -> None:
    pause = tmp_path / "measuring"
    pause.touch()
    window = "02:00-03:00"
    settings = load_settings(
        env_for(tmp_path, CSU_ENABLED="false", CSU_PAUSE_FILE=str(pause), CSU_UPLOAD_WINDOW=window)
    )
    built = holds.build(
        settings, UploadWindow.parse(window, None), settings.zone, tmp_path / "state"
    )
    assert [type(hold).__name__ for hold in built] == ["TurnedOff", "PauseFile", "OutsideWindow"]
    said = [hold.at_start(NOON) for hold in built]
    assert [held.hold if held else None for held in said] == [
        "turned-off",
        "pause-file",
        "upload-window",
    ]
    window_held = said[2]
    assert window_held is not None
    assert window_held.outcome == Outcome.IDLE
    assert window_held.until == datetime.datetime(2024, 9, 18, 2, 0, tzinfo=datetime.timezone.utc)
    # between files: turned off never stops a running pass; the window says it closed
    assert built[0].between_files(NOON) is None
    closed = built[2].between_files(NOON)
    assert closed is not None
    assert closed.reason == f"the upload window ({window}) closed"
    assert closed.outcome == Outcome.STOPPED


def test_every_hold_module_is_in_the_order() -> None:
    """A hold module whose class is not in ``build`` would never be asked."""
    settings = load_settings(
        {"CSU_HOST": "h", "CSU_USER": "u", "CSU_PASSWORD": "p", "CSU_DST": "/d"}
    )
    built = holds.build(settings, None, settings.zone, Path("/nonexistent-state"))
    in_order = {type(hold) for hold in built}
    defined = set()
    for module_info in pkgutil.iter_modules(holds.__path__):
        if module_info.name == "base":
            continue
        module = importlib.import_module(f"{holds.__name__}.{module_info.name}")
        for _name, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == module.__name__ and hasattr(value, "at_start"):
                defined.add(value)
    assert defined, "no hold modules found"
    assert defined == in_order


@pytest.mark.parametrize(
    ("hold", "outcome"),
    [("pause", Outcome.PAUSED), ("window", Outcome.IDLE), ("off", Outcome.DISABLED)],
)
def test_a_hold_says_one_reason_to_the_log_the_status_and_the_ping(
    tmp_path: Path, hold: str, outcome: Outcome
) -> None:
    pause = tmp_path / "control" / "measuring"
    pause.parent.mkdir()
    pause.touch()
    extra = {
        "pause": {"CSU_PAUSE_FILE": str(pause)},
        "window": {"CSU_UPLOAD_WINDOW": "02:00-03:00"},
        "off": {"CSU_ENABLED": "false"},
    }[hold]
    reason = {
        "pause": f"paused: {pause} exists",
        "window": "outside the upload window (02:00-03:00)",
        "off": "uploads are turned off (CSU_ENABLED=false)",
    }[hold]
    monitor = Monitor()
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message).rstrip()), format="{message}")
    logger.enable("circadian_scp_upload")  # the library is quiet unless asked (as the CLI does)
    try:
        settings = load_settings(env_for(tmp_path, CSU_PING_URL=f"{monitor.url}/ping/x", **extra))
        agent = Agent(settings, clock=lambda: NOON)
        assert agent.run_pass() == outcome
    finally:
        logger.disable("circadian_scp_upload")
        logger.remove(sink)
        monitor.close()
    said = [line for line in lines if "no pass starts" in line]
    assert len(said) == 1, lines
    assert said[0].startswith(f"{reason}: no pass starts"), lines
    if hold == "window":
        assert said[0].endswith("until 2024-09-18 02:00 UTC")
    status = read_status(tmp_path / "state")
    assert status is not None
    assert (status.last_pass["outcome"], status.last_pass["message"]) == (outcome.value, reason)
    assert monitor.requests == [("POST", "/ping/x", f"{reason}: no pass was due\n")]


def test_a_pause_is_seen_to_go_even_while_an_earlier_hold_holds(tmp_path: Path) -> None:
    """Every hold is asked, not only up to the first that holds: a pause file removed
    while another hold decides, and made again, is a new pause (timed from then), never
    the old one judged stale."""
    pause = tmp_path / "measuring"
    pause.touch()
    state = tmp_path / "state"
    state.mkdir()
    order: list[Hold] = [Says("first"), holds.PauseFile(pause, 3600, state)]
    assert first_held(order, NOON) == Held("first", "first at start", Outcome.PAUSED)
    seen = state / holds.PAUSE_SEEN
    assert seen.exists()  # asked although "first" decided
    pause.unlink()
    first_held(order, NOON)
    assert not seen.exists()  # its end was seen too
