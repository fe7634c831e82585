"""The fleet seen from the server: three stations report to one real sshd, and ``fleet``
shows each as it is, in text, JSON and a page that a headless Chromium renders; a
station's folder the reader may not read is listed, locally and over SSH."""

from __future__ import annotations

import datetime
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, write_file
from tests.integration.helpers import ROOT, agent, agent_env, day
from tests.sshd_server import TEST_USER, SSHServer

pytestmark = pytest.mark.integration
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def fleet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "circadian_scp_upload", "fleet", *args],
        cwd=ROOT,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("CSU_")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def station(server: SSHServer, tmp_path: Path, root: Path, name: str) -> dict[str, str]:
    src = tmp_path / name
    for offset in (-4, -3, -2):
        write_file(src / day(offset) / "spectrum.bin", os.urandom(2000))
    dst = root / name
    dst.mkdir()
    shutil.chown(dst, TEST_USER)
    return agent_env(
        server,
        src,
        dst,
        CSU_STATION=name,
        CSU_STATE_DIR=str(tmp_path / f"{name}-state"),
        CSU_GRACE_MINUTES="0",
        CSU_REPORT="true",
    )


@pytest.fixture
def three_stations(shell_server: SSHServer, tmp_path: Path) -> Path:
    """station-a uploads fine; station-b may not write one of its days (a folder the
    admin left root's); station-c uploaded, then went silent two hours ago."""
    root = shell_server.new_remote_dir(f"fleet-{os.urandom(3).hex()}")
    good = station(shell_server, tmp_path, root, "station-a")
    assert agent("once", good).returncode == 0
    refused = station(shell_server, tmp_path, root, "station-b")
    (root / "station-b" / day(-3)).mkdir(mode=0o555)  # root's: permission denied
    result = agent("once", refused)
    assert result.returncode == 1, result.stderr[-2000:]
    silent = station(shell_server, tmp_path, root, "station-c")
    assert agent("once", silent).returncode == 0
    # silent since: the server's time of its report (and its own times) set back, so that
    # it is an hour past its next pass (an interval) and the slack (an hour, or two passes)
    report = root / "station-c" / ".csu" / "stations" / "station-c.json"
    content = json.loads(report.read_text())
    interval = content["interval_seconds"]
    back = datetime.timedelta(seconds=interval + max(2 * interval, 3600) + 3600 + 300)
    for name in ("written", "next_contact"):
        if content.get(name):
            then = datetime.datetime.fromisoformat(content[name]) - back
            content[name] = then.isoformat(timespec="seconds")
    report.write_text(json.dumps(content))
    silent_since = report.stat().st_mtime - back.total_seconds()
    os.utime(report, (silent_since, silent_since))
    return root


def as_user(user: str) -> list[str]:
    """The command prefix that runs what follows as ``user`` (no root's rights left)."""
    entry = pwd.getpwnam(user)
    return [
        shutil.which("setpriv") or "/usr/bin/setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--clear-groups",
    ]


def test_fleet_shows_every_station_as_it_is(
    three_stations: Path, shell_server: SSHServer, tmp_path: Path
) -> None:
    root = three_stations
    report = json.loads((root / "station-a" / ".csu" / "stations" / "station-a.json").read_text())
    assert report["station"] == "station-a"
    assert report["libraries"]["paramiko"]
    assert report["timezone"] == "UTC"
    assert set(report["days"].values()) == {"verified"}
    assert not list((root / "station-a" / ".csu" / "stations").glob(".*"))  # no temporary
    assert len(json.dumps(report)) < 16_000

    text = fleet(str(root))
    assert text.returncode == 1, text.stderr  # one failing, one late
    lines = {line.split()[0]: line for line in text.stdout.splitlines()}
    assert lines["station-a"].endswith("ok")
    assert "FAILING failed:" in lines["station-b"]
    assert "1 d," in lines["station-b"]  # its refused day is its backlog
    assert "LATE (late by 1 h" in lines["station-c"]
    assert "3 station(s): 1 ok, 1 failing, 1 late" in text.stdout

    rows = {row["station"]: row for row in json.loads(fleet(str(root), "--json").stdout)}
    assert [rows[name]["state"] for name in sorted(rows)] == ["ok", "FAILING", "LATE"]
    assert (
        rows["station-b"]["days"][
            datetime.date.fromisoformat(f"{day(-3)[:4]}-{day(-3)[4:6]}-{day(-3)[6:]}").isoformat()
        ]
        == "failed"
    )
    assert rows["station-b"]["outcome"] == "failed"
    assert "permission denied" in rows["station-b"]["message"]
    # contact is the server's time of the report; the station's own is kept beside it
    report_a = root / "station-a" / ".csu" / "stations" / "station-a.json"
    contact = datetime.datetime.fromisoformat(rows["station-a"]["last_contact"])
    assert abs(contact.timestamp() - report_a.stat().st_mtime) < 1
    assert abs(rows["station-a"]["clock_offset_seconds"]) < 5  # one machine, one clock
    assert rows["station-a"]["written"] == report["written"]
    assert rows["station-a"]["due"] > rows["station-a"]["last_contact"]

    # a station's folder, 0750 and the station's own (here root's), that the admin's
    # account (here the login user) may not read: listed, and the others read on
    private = root / "station-d"
    (private / day(-2)).mkdir(parents=True)
    private.chmod(0o750)
    local = subprocess.run(
        [*as_user(TEST_USER), sys.executable, "-m", "circadian_scp_upload", "fleet", str(root)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("CSU_")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert local.returncode == 1, local.stdout + local.stderr  # failing and late, as before
    assert f"unreadable: {private} (Permission denied)" in local.stdout.splitlines()
    assert "3 station(s): 1 ok, 1 failing, 1 late, 0 broken; 1 folder(s) unreadable" in (
        local.stdout
    )

    env = agent_env(shell_server, tmp_path / "office", root)
    remote = fleet("--remote", str(root), "--json", env=env)
    assert remote.returncode == 1, remote.stderr
    assert {row["station"]: row["state"] for row in json.loads(remote.stdout)} == {
        "station-a": "ok",
        "station-b": "FAILING",
        "station-c": "LATE",
    }
    assert f"unreadable: {private} (permission denied to list" in remote.stderr
    assert "; 1 folder(s) unreadable" in remote.stderr


def test_the_fleet_page_renders_in_a_browser(three_stations: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("chromium is not installed (tests/setup-machine.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / "fleet.html"
    result = fleet(str(three_stations), "--html", str(page), "--days", "14")
    assert result.returncode == 1
    html = page.read_text()
    assert "<script" not in html  # offline: no script, nothing fetched
    assert "http" not in html.split("<svg", 1)[0].lower()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "fleet.png"
    browser = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ]
    dom = subprocess.run(
        [*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in ("station-a", "station-b", "station-c"):
        assert f'<td class="station">{name}</td>' in dom.stdout
        assert f'class="station">{name}</text>' in dom.stdout
    assert dom.stdout.count('data-state="verified"') >= 6
    assert 'data-state="failed"' in dom.stdout
    picture = subprocess.run(
        [*browser, f"--screenshot={shot}", "--window-size=1400,640", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert picture.returncode == 0, picture.stderr[-2000:]
    assert shot.stat().st_size > 10_000  # a real picture, kept as the test's artifact
    shutil.copy(page, ARTIFACTS / "fleet.html")
