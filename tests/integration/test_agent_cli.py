"""The agent's command line against a real sshd: passes, exit codes, retries, signals, health."""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import tree, write_file
from tests.faultproxy import FaultProxy
from tests.integration.helpers import (
    agent,
    agent_env,
    day,
    known_hosts_for,
    leftovers,
    partial_of,
    start_agent,
    utc_today,
    wait_for,
)
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.integration


@pytest.fixture
def data(tmp_path: Path) -> Path:
    src = tmp_path / "data"
    for offset in (-3, -2, 0, 1):
        write_file(src / day(offset) / "a.txt", f"day {offset}".encode() * 100)
        write_file(src / day(offset) / "sub" / "b.bin", os.urandom(50_000))
    return src


@pytest.fixture
def proxy(shell_server: SSHServer) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(shell_server.port)
    yield fault_proxy
    fault_proxy.close()


def test_once_uploads_the_ready_days_and_exits_0(shell_server: SSHServer, data: Path) -> None:
    dst = shell_server.new_remote_dir("cli-once")
    before = tree(data)
    result = agent("once", agent_env(shell_server, data, dst, CSU_REMOVE_AFTER_UPLOAD="true"))
    assert result.returncode == 0, result.stderr
    first = (utc_today() - datetime.timedelta(days=3)).isoformat()
    assert f"{first}: found 0 synced files and 2 unsynced files" in result.stderr
    past = {k: v for k, v in before.items() if k.split("/")[0] in (day(-3), day(-2))}
    assert tree(dst) == past
    assert sorted({k.split("/")[0] for k in tree(data)}) == [day(0), day(1)]
    assert "Traceback" not in result.stderr
    health = agent("healthcheck", agent_env(shell_server, data, dst))
    assert health.returncode == 0, health.stdout
    assert "last pass: ok" in health.stdout


def test_bad_configuration_exits_2_listing_every_problem(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSU_")}
    env.update({"CSU_PORT": "x", "CSU_PASSWORD": "pw-never-shown", "CSU_VARIANT": "y"})
    result = agent("run", env)
    assert result.returncode == 2
    for name in ("CSU_HOST", "CSU_USER", "CSU_DST", "CSU_PORT", "CSU_VARIANT"):
        assert name in result.stderr
    assert "pw-never-shown" not in result.stderr
    assert "Traceback" not in result.stderr


def test_refused_login_exits_3_without_a_retry_storm(
    shell_server: SSHServer, data: Path, proxy: FaultProxy, tmp_path: Path
) -> None:
    dst = shell_server.new_remote_dir("cli-refused")
    env = agent_env(
        shell_server,
        data,
        dst,
        port=proxy.port,
        CSU_KEY_FILE="",
        CSU_PASSWORD="wrong-pw-123",
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
    )
    result = agent("once", env)
    assert result.returncode == 3, result.stderr
    assert "refused the login" in result.stderr
    assert "wrong-pw-123" not in result.stderr
    assert "Traceback" not in result.stderr
    assert proxy.connections == 1  # no retries for a refusal
    assert tree(dst) == {}
    assert agent("healthcheck", env).returncode == 1


def test_unknown_host_key_exits_3_and_names_the_fingerprint(
    shell_server: SSHServer, data: Path, tmp_path: Path
) -> None:
    dst = shell_server.new_remote_dir("cli-hostkey")
    (tmp_path / "empty").write_text("")
    result = agent(
        "once", agent_env(shell_server, data, dst, CSU_KNOWN_HOSTS_FILE=str(tmp_path / "empty"))
    )
    assert result.returncode == 3
    assert shell_server.host_key_fingerprint in result.stderr


def test_connection_cuts_are_retried_and_resumed(
    shell_server: SSHServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    src = tmp_path / "data"
    size = 8 * 1024 * 1024
    content = os.urandom(size)
    write_file(src / day(-2) / "big.bin", content)
    write_file(src / day(-2) / "small.txt", b"small")
    dst = shell_server.new_remote_dir("cli-cuts")
    proxy.faults.cut_after_bytes = [2_000_000, 3_000_000, 2_500_000]
    env = agent_env(
        shell_server,
        src,
        dst,
        port=proxy.port,
        CSU_REMOVE_AFTER_UPLOAD="true",
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
    )
    result = agent("once", env)
    assert result.returncode == 0, result.stderr
    assert proxy.cuts == 3
    assert result.stderr.count("retrying in") >= 3
    assert "resuming 'big.bin' from byte" in result.stderr
    assert tree(dst) == {f"{day(-2)}/big.bin": content, f"{day(-2)}/small.txt": b"small"}
    assert proxy.bytes_up < 2 * size  # resumed, not restarted
    assert leftovers(dst) == []
    assert not (src / day(-2)).exists()


def test_a_long_link_shares_the_upload_among_several_sftp_channels(
    shell_server: SSHServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    src = tmp_path / "data"
    expected = {}
    for index in range(300):
        expected[f"{day(-2)}/sub{index % 3}/small-{index:03d}.dat"] = os.urandom(2000 + index)
    for name in ("a.bin", "b.bin", "c.bin"):
        expected[f"{day(-2)}/{name}"] = os.urandom(1_000_000)
    for relpath, content in expected.items():
        write_file(src / relpath, content)
    dst = shell_server.new_remote_dir("cli-lanes")
    proxy.faults.latency_seconds = 0.01  # a 20 ms round trip
    env = agent_env(
        shell_server,
        src,
        dst,
        port=proxy.port,
        CSU_REMOVE_AFTER_UPLOAD="true",
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
    )
    result = agent("once", env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "303 files on 4 SFTP channels in parallel (round trip" in result.stderr
    assert tree(dst) == expected
    assert leftovers(dst) == []
    assert not (src / day(-2)).exists()  # every file proven, then removed


def test_a_stalled_link_is_detected_and_the_upload_completes(
    shell_server: SSHServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    src = tmp_path / "data"
    content = os.urandom(6 * 1024 * 1024)
    write_file(src / day(-2) / "big.bin", content)
    dst = shell_server.new_remote_dir("cli-stall")
    proxy.faults.bytes_per_second = 2_000_000
    env = agent_env(
        shell_server,
        src,
        dst,
        port=proxy.port,
        CSU_IO_TIMEOUT="3",
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
    )
    process = start_agent("once", env)
    partial = partial_of(dst, dst / day(-2) / "big.bin")
    wait_for(lambda: partial.exists() and partial.stat().st_size > 500_000)
    proxy.faults.stall = True
    time.sleep(6)  # longer than the 3 s I/O timeout: the agent must notice by itself
    proxy.faults.stall = False
    proxy.faults.bytes_per_second = 0
    proxy.cut_all()  # the stalled connection is dead for the agent anyway
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr
    assert "retrying in" in stderr
    assert tree(dst) == {f"{day(-2)}/big.bin": content}


def test_sigterm_stops_within_docker_grace_and_leaves_a_clean_state(
    shell_server: SSHServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    src = tmp_path / "data"
    content = os.urandom(16 * 1024 * 1024)
    write_file(src / day(-2) / "big.bin", content)
    dst = shell_server.new_remote_dir("cli-sigterm")
    proxy.faults.bytes_per_second = 2_000_000
    env = agent_env(
        shell_server,
        src,
        dst,
        port=proxy.port,
        CSU_REMOVE_AFTER_UPLOAD="true",
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
    )
    process = start_agent("run", env)
    partial = partial_of(dst, dst / day(-2) / "big.bin")
    wait_for(lambda: partial.exists() and partial.stat().st_size > 1_000_000)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode == 0, stderr
    assert "SIGTERM received" in stderr
    assert not (dst / day(-2) / "big.bin").exists()
    assert not (dst / day(-2) / ".do-not-touch").exists()
    assert not (src / day(-2) / ".do-not-touch").exists()
    assert (src / day(-2) / "big.bin").read_bytes() == content


def test_check_prints_the_plan_and_changes_nothing(shell_server: SSHServer, data: Path) -> None:
    dst = shell_server.new_remote_dir("cli-check")
    before = tree(data)
    result = agent("check", agent_env(shell_server, data, dst, CSU_REMOVE_AFTER_UPLOAD="true"))
    assert result.returncode == 0, result.stderr
    assert "host key verified" in result.stdout
    assert "2 of 2 ready day(s) need work" in result.stdout
    today = utc_today()
    assert f"  {(today - datetime.timedelta(days=3)).isoformat()}  " in result.stdout
    assert f"  {today.isoformat()}  " not in result.stdout  # today is not ready
    assert "station time zone: UTC (from CSU_TIMEZONE)" in result.stdout
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    assert f"today is {today.isoformat()}; it becomes ready at {tomorrow} 01:00 UTC" in (
        result.stdout
    )
    assert tree(data) == before
    assert tree(dst) == {}
    # once uploaded (removal off), nothing is left to do
    env = agent_env(shell_server, data, dst)
    assert agent("once", env).returncode == 0
    result = agent("check", env)
    assert "0 of 2 ready day(s) need work" in result.stdout, result.stdout


def test_json_logs_are_one_object_per_line(shell_server: SSHServer, data: Path) -> None:
    dst = shell_server.new_remote_dir("cli-json")
    env = agent_env(shell_server, data, dst, CSU_LOG_FORMAT="json", CSU_STATION="station-42")
    result = agent("once", env)
    assert result.returncode == 0
    entries = [json.loads(line)["record"] for line in result.stderr.splitlines()]
    assert any(e["message"].endswith("found 0 synced files and 2 unsynced files") for e in entries)
    assert {e["level"]["name"] for e in entries} >= {"INFO"}
    assert {e["extra"]["station"] for e in entries} == {"station-42"}
    stamp = datetime.datetime.fromisoformat(entries[0]["time"]["repr"])
    assert stamp.utcoffset() is not None  # times carry their offset
    # a real bug keeps its traceback in JSON too (a job whose source is a file, not a folder
    # is no bug: only its message), and no value of a variable shows
    assert all(e["exception"] is None for e in entries)


def test_key_text_known_hosts_content_and_pinned_fingerprint(
    shell_server: SSHServer, data: Path
) -> None:
    dst = shell_server.new_remote_dir("cli-secrets")
    by_content = agent_env(
        shell_server,
        data,
        dst,
        CSU_KEY_FILE="",
        CSU_PRIVATE_KEY_FILE=str(shell_server.key_file),
        CSU_KNOWN_HOSTS_FILE="",
        CSU_KNOWN_HOSTS=shell_server.known_hosts.read_text(),
    )
    result = agent("once", by_content)
    assert result.returncode == 0, result.stderr
    assert len(tree(dst)) == 4
    pinned = agent_env(
        shell_server,
        data,
        dst,
        CSU_KNOWN_HOSTS_FILE=str(data.parent / "nothing"),
        CSU_HOST_KEY_FINGERPRINT=shell_server.host_key_fingerprint,
    )
    result = agent("once", pinned)
    assert result.returncode == 0, result.stderr
    assert "2 day(s) already on the server, unchanged" in result.stderr


def test_configuration_problems_exit_2_from_once_and_check_alike(
    shell_server: SSHServer, data: Path, tmp_path: Path
) -> None:
    dst = shell_server.new_remote_dir("cli-config")
    missing_source = agent_env(shell_server, tmp_path / "not-mounted", dst)
    for command in ("once", "check"):
        result = agent(command, missing_source)
        assert result.returncode == 2, (command, result.stderr)
        assert "not-mounted' does not exist" in result.stderr
        assert "Traceback" not in result.stderr
    bad_options = agent_env(
        shell_server,
        data,
        dst,
        CSU_KEY_FILE="/missing/key",
        CSU_HOST_KEY_FINGERPRINT="SHA256:short",
    )
    for command in ("once", "check", "run"):
        result = agent(command, bad_options)
        assert result.returncode == 2, (command, result.stderr)
        assert "CSU_KEY_FILE: cannot read the private key file '/missing/key'" in result.stderr
        assert "CSU_HOST_KEY_FINGERPRINT:" in result.stderr
        assert "a bug" not in result.stderr
        assert "Traceback" not in result.stderr
    assert tree(dst) == {}
