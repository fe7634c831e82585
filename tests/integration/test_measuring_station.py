"""Stations that measure (against a real sshd): a clock the agent checks, a quiet period
for days still written, a pause the instrument asks for, and a switch."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from circadian_scp_upload.config.load import load_settings
from circadian_scp_upload.outcomes import Outcome
from circadian_scp_upload.station.agent import Agent
from tests.conftest import tree, write_file
from tests.integration.helpers import (
    ROOT,
    WITHOUT_DAC_OVERRIDE,
    agent,
    agent_env,
    day,
    leftovers,
    start_agent,
    status_of,
    wait_for,
)
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.integration
FAKETIME = shutil.which("faketime")


def days_around_today(src: Path) -> dict[str, bytes]:
    """Three past days, today (still being written) and nothing later."""
    written = {}
    for offset in (-3, -2, -1, 0):
        content = os.urandom(5000)
        write_file(src / day(offset) / "spectrum.bin", content)
        written[day(offset)] = content
    return written


def faketime() -> list[str]:
    if FAKETIME is None:
        pytest.fail("faketime is not installed (tests/setup-machine.sh installs it)")
    return [FAKETIME, "-f"]


@pytest.mark.parametrize(("shift", "uploaded"), [("+2d", [-3, -2, -1]), ("-2d", [-3])])
def test_a_station_clock_that_is_wrong_never_makes_a_day_ready_early(
    shell_server: SSHServer, tmp_path: Path, shift: str, uploaded: list[int]
) -> None:
    """Two days ahead (the dangerous side: today would be over, uploaded and removed
    while the instrument writes it), or two days behind: a day is over only when both
    the station's clock and the server's say so."""
    src = tmp_path / "src"
    written = days_around_today(src)
    dst = shell_server.new_remote_dir(f"clock{shift}")
    env = agent_env(shell_server, src, dst, CSU_REMOVE_AFTER_UPLOAD="true", CSU_GRACE_MINUTES="0")
    result = agent("once", env, prefix=[*faketime(), shift])
    assert result.returncode == 0, result.stderr[-3000:]
    side = "ahead of" if shift.startswith("+") else "behind"
    assert f"the station's clock is 2 d 0 h {side} the server's" in result.stderr
    wanted = {day(offset) for offset in uploaded}
    assert {path.split("/")[0] for path in tree(dst)} == wanted
    for name, content in written.items():
        local = src / name / "spectrum.bin"
        if name in wanted:
            assert not local.exists()  # verified, then removed
        else:
            assert local.read_bytes() == content  # never removed, never uploaded
    offset = status_of(env)["clock_offset_seconds"]
    assert isinstance(offset, float)
    assert abs(abs(offset) - 2 * 86400) < 5
    assert leftovers(dst) == []


def test_a_daemon_measures_the_clock_afresh_in_each_pass_with_work(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """A long-running agent whose clock NTP sets right between two passes judges the
    second pass by the new offset, never by the first pass's."""
    src = tmp_path / "src"
    days_around_today(src)
    dst = shell_server.new_remote_dir("clock-afresh")
    env = agent_env(shell_server, src, dst, CSU_GRACE_MINUTES="0")

    def real() -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc)

    def ahead() -> datetime.datetime:
        return real() + datetime.timedelta(days=2)

    daemon = Agent(load_settings(env), clock=ahead)
    try:
        assert daemon.run_pass() == Outcome.OK
        assert daemon.offset is not None
        assert abs(daemon.offset + 2 * 86400) < 5
        assert {path.split("/")[0] for path in tree(dst)} == {day(-3), day(-2), day(-1)}
        daemon.clock = real  # NTP reached the station; the instrument adds a late day
        write_file(src / day(-4) / "late.bin", b"late")
        assert daemon.run_pass() == Outcome.OK
        assert abs(daemon.offset) < 5
        assert day(-4) in {path.split("/")[0] for path in tree(dst)}
        assert day(0) not in {path.split("/")[0] for path in tree(dst)}
    finally:
        daemon.settings.connection.close()


def test_a_right_clock_is_said_nowhere_but_in_the_status(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    days_around_today(src)
    dst = shell_server.new_remote_dir("clock-right")
    env = agent_env(shell_server, src, dst)
    result = agent("once", env)
    assert result.returncode == 0, result.stderr
    assert "station's clock is" not in result.stderr
    offset = status_of(env)["clock_offset_seconds"]
    assert isinstance(offset, float)
    assert abs(offset) < 2
    checked = agent("check", env)
    assert "clock: the station's clock agrees with the server's" in checked.stdout


@pytest.mark.parametrize("copied", [False, True])
def test_a_day_still_being_written_waits_for_the_quiet_period(
    shell_server: SSHServer, tmp_path: Path, copied: bool
) -> None:
    """A file written now, or copied now with its original's old times kept (``cp -p``,
    ``rsync -t``: old by its modification time, new by its change time), holds its day
    back, removal on; ten minutes later by the station's clock the day goes."""
    src = tmp_path / "src"
    if copied:
        original = tmp_path / "instrument-pc" / "late.bin"
        write_file(original, b"still coming")
        old = time.time() - 3 * 86400
        os.utime(original, (old, old))
        (src / day(-2)).mkdir(parents=True)
        shutil.copy2(original, src / day(-2) / "late.bin")  # cp -p
        assert (src / day(-2) / "late.bin").stat().st_mtime < time.time() - 86400
    else:
        write_file(src / day(-2) / "late.bin", b"still coming")
    dst = shell_server.new_remote_dir(f"quiet-{copied}")
    env = agent_env(shell_server, src, dst, CSU_QUIET_MINUTES="5", CSU_REMOVE_AFTER_UPLOAD="true")
    result = agent("once", env)
    assert result.returncode == 0, result.stderr
    assert "not finished: its newest file changed" in result.stderr
    assert tree(dst) == {}
    assert (src / day(-2) / "late.bin").read_bytes() == b"still coming"
    assert status_of(env)["backlog_days"] == 1
    later = agent("once", env, prefix=[*faketime(), "+10m"])
    assert later.returncode == 0, later.stderr[-3000:]
    assert tree(dst) == {f"{day(-2)}/late.bin": b"still coming"}
    assert not (src / day(-2) / "late.bin").exists()


def test_the_instrument_pauses_the_agent(shell_server: SSHServer, tmp_path: Path) -> None:
    """While the pause file exists no pass starts (no connection at all: the server's
    address here is dead); a stale one is ignored, said loudly."""
    src = tmp_path / "src"
    write_file(src / day(-2) / "a.bin", b"a")
    dst = shell_server.new_remote_dir("paused")
    pause = tmp_path / "control" / "measuring"
    write_file(pause, b"")
    env = agent_env(shell_server, src, dst, CSU_PAUSE_FILE=str(pause))
    dead = env | {"CSU_HOST": "127.0.0.1", "CSU_PORT": "1"}
    result = agent("once", dead)
    assert result.returncode == 0, result.stderr
    assert f"paused: {pause} exists: no pass starts" in result.stderr
    status = status_of(env)
    assert status["last_pass"]["outcome"] == "paused"  # type: ignore[index]
    healthy = subprocess.run(
        [sys.executable, "-m", "circadian_scp_upload", "healthcheck"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert healthy.returncode == 0, healthy.stdout
    old = time.time() - 3 * 86400
    os.utime(pause, (old, old))  # the instrument's computer is days behind: still a pause
    assert f"paused: {pause} exists" in agent("once", dead).stderr
    write_file(src / day(-2) / "b.bin", b"b")
    time.sleep(1.5)
    brief = env | {"CSU_PAUSE_MAX_SECONDS": "1"}  # seen for 1.5 s by now
    stale = agent("once", brief)
    assert stale.returncode == 0, stale.stderr
    assert stale.stderr.count("is taken as stale, and uploads go on") == 1  # once, not per file
    assert tree(dst) == {f"{day(-2)}/a.bin": b"a", f"{day(-2)}/b.bin": b"b"}
    # the instrument is done, and later measures again: a new pause (even where the
    # filesystem gives the new file the old one's inode), timed afresh
    pause.unlink()
    assert agent("once", brief).returncode == 0
    write_file(pause, b"")
    again = agent("once", brief)
    assert f"paused: {pause} exists: no pass starts" in again.stderr, again.stderr


def test_a_pause_file_that_cannot_be_seen_counts_as_a_pause(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """Fail towards pausing: the pause file's folder is gone (a volume not mounted), or
    cannot be looked into by the agent's user: no pass starts, and the reason says what
    to fix; once the folder is back and holds no pause file, uploads go."""
    src = tmp_path / "src"
    write_file(src / day(-2) / "a.bin", b"a")
    dst = shell_server.new_remote_dir("pause-unseen")
    control = tmp_path / "control"
    pause = control / "measuring"
    env = agent_env(shell_server, src, dst, CSU_PAUSE_FILE=str(pause))
    gone = agent("once", env)
    assert gone.returncode == 0, gone.stderr
    assert f"paused: the pause file's folder {control} is not there" in gone.stderr
    assert "no pass starts" in gone.stderr
    assert status_of(env)["last_pass"]["outcome"] == "paused"  # type: ignore[index]
    assert tree(dst) == {}
    control.mkdir(mode=0o700)
    os.chown(control, 4321, 4321)  # another user's folder the agent cannot look into
    locked = agent("once", env, prefix=WITHOUT_DAC_OVERRIDE)
    assert locked.returncode == 0, locked.stderr
    assert f"paused: the pause file {pause} cannot be looked at (Permission denied)" in (
        locked.stderr
    )
    assert tree(dst) == {}
    os.chown(control, 0, 0)
    assert agent("once", env).returncode == 0
    assert tree(dst) == {f"{day(-2)}/a.bin": b"a"}


def test_a_pause_that_begins_mid_pass_stops_it_at_the_next_file(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for index in range(6):
        write_file(src / day(-2) / f"part-{index}.bin", os.urandom(400_000))
    dst = shell_server.new_remote_dir("pause-mid-pass")
    pause = tmp_path / "measuring"
    env = agent_env(
        shell_server,
        src,
        dst,
        CSU_PAUSE_FILE=str(pause),
        CSU_BANDWIDTH_LIMIT_KIB="400",  # a file a second: time to begin the pause
        CSU_REMOVE_AFTER_UPLOAD="true",
    )
    process = start_agent("once", env)
    wait_for(lambda: any("/part-" in name for name in tree(dst)), timeout=60)  # one in place
    write_file(pause, b"")
    _stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    assert "pass paused: paused:" in stderr
    arrived = tree(dst)
    assert 0 < len(arrived) < 6
    assert leftovers(dst) == []  # markers released, no file cut in the middle
    assert not (src / day(-2) / ".do-not-touch").exists()
    assert status_of(env)["last_pass"]["outcome"] == "paused"  # type: ignore[index]
    pause.unlink()
    assert agent("once", env).returncode == 0
    assert len(tree(dst)) == 6


def test_a_switch_keeps_the_configuration_and_connects_to_nothing(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_file(src / "on" / day(-2) / "a.bin", b"on")
    write_file(src / "off" / day(-2) / "b.bin", b"off")
    dst = shell_server.new_remote_dir("switch")
    env = agent_env(shell_server, src / "on", dst)
    dead = env | {"CSU_HOST": "127.0.0.1", "CSU_PORT": "1", "CSU_ENABLED": "false"}
    result = agent("once", dead)
    assert result.returncode == 0, result.stderr
    assert "uploads are turned off (CSU_ENABLED=false)" in result.stderr
    assert status_of(env)["last_pass"]["outcome"] == "disabled"  # type: ignore[index]
    jobs = [
        {"name": "on", "src": str(src / "on"), "dst": str(dst / "on")},
        {"name": "off", "src": str(src / "off"), "dst": str(dst / "off"), "enabled": False},
    ]
    per_job = {k: v for k, v in env.items() if k != "CSU_DST"} | {"CSU_JOBS": json.dumps(jobs)}
    result = agent("once", per_job)
    assert result.returncode == 0, result.stderr
    assert "job off is turned off" in result.stderr
    assert tree(dst) == {f"on/{day(-2)}/a.bin": b"on"}
