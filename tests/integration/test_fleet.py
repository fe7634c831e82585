"""Fleet operations against a real sshd: pings to a real HTTP server, the status file, the
metrics (read by Prometheus's own text-format parser), health, the upload window, the
bandwidth timetable, start jitter, compression and honest outcomes."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import tree, write_file
from tests.faultproxy import FaultProxy
from tests.faults.harness import leftovers
from tests.integration.helpers import (
    agent,
    agent_env,
    day,
    known_hosts_for,
    make_day_dirs,
    start_agent,
    wait_for,
)
from tests.integration.monitor import Monitor
from tests.sshd_server import SSHServer, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def monitor() -> Iterator[Monitor]:
    found = Monitor()
    yield found
    found.close()


def test_pings_say_start_success_and_failure_with_the_log(
    shell_server: SSHServer, monitor: Monitor, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("pings")
    check = f"{monitor.url}/ping/5f1c-0000-station-07"
    env = agent_env(shell_server, src, dst, CSU_PING_URL=check)
    assert agent("once", env).returncode == 0
    [(start, start_path, _), (end, end_path, body)] = monitor.requests
    assert (start, start_path) == ("POST", "/ping/5f1c-0000-station-07/start")
    assert (end, end_path) == ("POST", "/ping/5f1c-0000-station-07")
    assert "found 0 synced files and 2 unsynced files" in body
    assert "pass finished: ok" in body
    assert len(body.encode()) <= 8 * 1024
    monitor.requests.clear()
    refused = agent("once", env | {"CSU_KEY_FILE": "", "CSU_PASSWORD": "not-the-password"})
    assert refused.returncode == 3
    assert [path for _m, path, _b in monitor.requests] == [
        "/ping/5f1c-0000-station-07/start",
        "/ping/5f1c-0000-station-07/fail",
    ]
    assert "refused the login" in monitor.requests[1][2]


def test_an_uptime_kuma_push_url_and_a_dead_monitor(
    shell_server: SSHServer, monitor: Monitor, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("kuma")
    kuma = f"{monitor.url}/api/push/Tok3n?status={{status}}&msg={{msg}}&ping="
    assert agent("once", agent_env(shell_server, src, dst, CSU_PING_URL=kuma)).returncode == 0
    assert monitor.requests == [("GET", "/api/push/Tok3n?status=up&msg=ok&ping=", "")]
    dead = f"http://127.0.0.1:{free_port()}/ping/abc"
    result = agent("once", agent_env(shell_server, src, dst, CSU_PING_URL=dead))
    assert result.returncode == 0  # a failed ping never fails the pass
    assert "the ping to 127.0.0.1:" in result.stderr
    assert "/ping/abc" not in result.stderr  # the check's token is not logged


def test_status_and_metrics_say_the_backlog_even_while_the_link_is_down(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, [day(-3), day(-2)], files_per_day=2)
    dst = shell_server.new_remote_dir("status")
    metrics = tmp_path / "textfile" / "csu.prom"
    metrics.parent.mkdir()
    env = agent_env(
        shell_server,
        src,
        dst,
        CSU_METRICS_FILE=str(metrics),
        CSU_STATION="st-7",
        CSU_GRACE_MINUTES="0",  # yesterday is ready even in the first hour of today
    )
    assert agent("once", env).returncode == 0
    status = json.loads(status_json(env))
    assert status["last_pass"]["outcome"] == "ok"
    assert status["last_success"] == status["last_pass"]["finished"]
    assert (status["backlog_days"], status["backlog_files"]) == (0, 0)
    first = metric_values(metrics.read_text())
    assert first[("csu_passes_total", (("outcome", "ok"), ("station", "st-7")))] == 1
    assert first[("csu_uploaded_files_total", (("station", "st-7"),))] == 6
    assert first[("csu_backlog_days", (("station", "st-7"), ("upload_job", str(src))))] == 0

    make_day_dirs(src, [day(-1)], files_per_day=2)  # a new day while the link is down
    down = env | {
        "CSU_HOST": "127.0.0.1:1",
        "CSU_RETRY_GIVE_UP_SECONDS": "1",
        "CSU_RETRY_INITIAL_WAIT_SECONDS": "0.1",
    }
    assert agent("once", down).returncode == 1
    status = json.loads(status_json(env))
    assert status["last_pass"]["outcome"] == "failed"
    assert status["last_success"] is not None  # still the earlier one
    size = sum(len(v) for k, v in tree(src).items() if k.startswith(day(-1)))
    assert (status["backlog_days"], status["backlog_files"], status["backlog_bytes"]) == (
        1,
        3,
        size,
    )
    assert (
        status["oldest_pending_day"]
        == datetime.date.fromisoformat(f"{day(-1)[:4]}-{day(-1)[4:6]}-{day(-1)[6:]}").isoformat()
    )
    second = metric_values(metrics.read_text())
    assert second[("csu_backlog_bytes", (("station", "st-7"), ("upload_job", str(src))))] == size
    assert second[("csu_passes_total", (("outcome", "failed"), ("station", "st-7")))] == 1
    human = agent("status", env)
    assert "backlog: 1 day(s), 3 files" in human.stdout


def status_json(env: dict[str, str]) -> str:
    """Run ``status --json`` (a subcommand with an option)."""
    result = subprocess.run(
        [sys.executable, "-m", "circadian_scp_upload", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse a metrics text with Prometheus's parser: (name, labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("csu_")
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_over_http(shell_server: SSHServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("metrics-http")
    port = free_port()
    env = agent_env(shell_server, src, dst, CSU_METRICS_PORT=str(port), CSU_INTERVAL_SECONDS="60")
    process = start_agent("run", env)
    try:
        wait_for(lambda: bool(tree(dst)), timeout=60)
        text = ""

        def scraped() -> bool:
            nonlocal text
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                return False
            return "csu_passes_total" in text

        wait_for(scraped, timeout=30)
        values = metric_values(text)
        assert any(
            name == "csu_last_success_timestamp_seconds" and v > 0
            for (name, _), v in values.items()
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_health_means_something(shell_server: SSHServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("health")
    env = agent_env(shell_server, src, dst, CSU_UNHEALTHY_AFTER_SECONDS="8")
    assert agent("once", env).returncode == 0
    healthy = agent("healthcheck", env)
    assert healthy.returncode == 0, healthy.stdout
    assert "last pass: ok" in healthy.stdout
    down = env | {"CSU_HOST": "127.0.0.1:1", "CSU_RETRY_GIVE_UP_SECONDS": "1"}
    assert agent("once", down).returncode == 1
    assert agent("healthcheck", env).returncode == 0  # a failure, but recently a success
    time.sleep(8)
    assert agent("once", down).returncode == 1
    unhealthy = agent("healthcheck", env)
    assert unhealthy.returncode == 1
    assert "no pass succeeded and no work went on for" in unhealthy.stdout
    refused = env | {"CSU_KEY_FILE": "", "CSU_PASSWORD": "wrong-password-x"}
    assert agent("once", refused).returncode == 3
    result = agent("healthcheck", env)
    assert result.returncode == 1
    assert "refused by the server" in result.stdout


def window_around(start: float, end: float) -> str:
    """An upload window from ``start`` to ``end`` seconds from now (UTC, HH:MM:SS)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    first = (now + datetime.timedelta(seconds=start)).strftime("%H:%M:%S")
    last = (now + datetime.timedelta(seconds=end)).strftime("%H:%M:%S")
    return f"{first}-{last}"


def test_the_upload_window(shell_server: SSHServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for index in range(8):
        write_file(src / day(-2) / f"part-{index}.bin", os.urandom(700_000))
    dst = shell_server.new_remote_dir("window")
    closed = agent_env(shell_server, src, dst, CSU_UPLOAD_WINDOW=window_around(3600, 7200))
    result = agent("once", closed)
    assert result.returncode == 0
    assert "outside the upload window" in result.stderr
    assert tree(dst) == {}
    # open for three more seconds; at 1 MiB/s the day takes about six
    open_now = agent_env(
        shell_server,
        src,
        dst,
        CSU_UPLOAD_WINDOW=window_around(-60, 3),
        CSU_BANDWIDTH_LIMIT_KIB="1024",
    )
    result = agent("once", open_now)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "closed; the next run resumes where it stopped" in result.stderr
    assert "pass stopped: 1 day(s) left" in result.stderr
    arrived = tree(dst)
    assert 0 < len(arrived) < 8
    assert leftovers(dst) == []  # the file in flight was finished, none cut in the middle
    assert all(content == (src / relpath).read_bytes() for relpath, content in arrived.items())
    assert json.loads(status_json(open_now))["last_pass"]["outcome"] == "stopped"


def test_a_bandwidth_timetable_paces_every_byte(shell_server: SSHServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_file(src / day(-2) / "large.bin", os.urandom(3 << 20))
    for index in range(20):
        write_file(src / day(-2) / f"small-{index}.dat", os.urandom(50_000))
    dst = shell_server.new_remote_dir("timetable")
    now = datetime.datetime.now(datetime.timezone.utc)
    fast_later = (now + datetime.timedelta(hours=6)).strftime("%H:%M")
    timetable = f"{(now - datetime.timedelta(hours=1)).strftime('%H:%M')},1M {fast_later},off"
    env = agent_env(shell_server, src, dst, CSU_BANDWIDTH_SCHEDULE=timetable)
    started = time.monotonic()
    result = agent("once", env)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    total = (3 << 20) + 20 * 50_000
    assert took >= 0.8 * total / (1 << 20), took  # a lower bound: paced, small files too
    both = agent_env(
        shell_server, src, dst, CSU_BANDWIDTH_SCHEDULE=timetable, CSU_BANDWIDTH_LIMIT_KIB="10"
    )
    refused = agent("once", both)
    assert refused.returncode == 2
    assert "not both" in refused.stderr


def test_start_jitter_waits_and_a_stop_ends_the_wait(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("jitter")
    env = agent_env(shell_server, src, dst, CSU_START_JITTER_SECONDS="600")
    process = start_agent("once", env)
    time.sleep(1.5)
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert time.monotonic() - asked < 2
    assert tree(dst) == {}  # still waiting its random delay: nothing started


@pytest.mark.parametrize(("kind", "expect"), [("csv", "pays"), ("random", "costs nothing")])
def test_compression_on_the_wire(
    shell_server: SSHServer, tmp_path: Path, kind: str, expect: str
) -> None:
    src = tmp_path / "src"
    if kind == "csv":
        rows = [
            f"2024-09-17T{h:02d}:{m:02d}:{s:02d}Z,{20 + (h * m) % 7}.{s % 10},{1013 + m % 5},ok"
            for h in range(24)
            for m in range(60)
            for s in range(0, 60, 2)
        ]
        content = ("\n".join(rows) + "\n").encode()
    else:
        content = os.urandom(1_500_000)
    write_file(src / day(-2) / f"data.{kind}", content)
    sent = {}
    for compression in ("false", "true"):
        proxy = FaultProxy(shell_server.port)
        dst = shell_server.new_remote_dir(f"compress-{kind}-{compression}")
        env = agent_env(
            shell_server,
            src,
            dst,
            port=proxy.port,
            CSU_COMPRESSION=compression,
            CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
        )
        assert agent("once", env).returncode == 0
        assert (dst / day(-2) / f"data.{kind}").read_bytes() == content
        sent[compression] = proxy.bytes_up
        proxy.close()
    ratio = sent["true"] / sent["false"]
    print(f"compression, {kind}: {len(content)} bytes of data, {sent} on the wire, {ratio:.2f}")
    if expect == "pays":
        assert ratio < 0.35, sent
    else:
        assert ratio < 1.05, sent


def test_a_pass_outside_the_upload_window_pings_success_with_the_reason(
    shell_server: SSHServer, monitor: Monitor, tmp_path: Path
) -> None:
    """healthchecks counts only a success ping as "up": a check whose period is the pass
    interval must not go down every day outside the window (a stop still sends /log)."""
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("window-pings")
    window = window_around(3600, 7200)
    env = agent_env(
        shell_server,
        src,
        dst,
        CSU_PING_URL=f"{monitor.url}/ping/abc",
        CSU_UPLOAD_WINDOW=window,
    )
    assert agent("once", env).returncode == 0
    assert monitor.requests == [
        ("POST", "/ping/abc", f"outside the upload window ({window}): no pass was due\n")
    ]
    monitor.requests.clear()
    kuma = f"{monitor.url}/api/push/Tok?status={{status}}&msg={{msg}}&ping="
    assert agent("once", env | {"CSU_PING_URL": kuma}).returncode == 0
    [(method, path, _body)] = monitor.requests
    assert method == "GET"
    assert path.startswith("/api/push/Tok?status=up&msg=outside%20the%20upload%20window")
