"""Pings to a monitor that asks for a password in its URL, against a real HTTP server."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.integration.helpers import agent, agent_env, day, make_day_dirs
from tests.integration.monitor import Monitor, ping_monitor  # noqa: F401 - the fixture
from tests.sshd_server import SSHServer, free_port

pytestmark = pytest.mark.integration


def test_a_ping_url_with_a_password_sends_it_as_basic_auth_and_never_logs_it(
    shell_server: SSHServer,
    ping_monitor: Monitor,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    monitor = ping_monitor
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("ping-password")
    host = monitor.url.removeprefix("http://")
    url = f"http://office:s3cr%40t-pw@{host}/ping/station-07"
    result = agent("once", agent_env(shell_server, src, dst, CSU_PING_URL=url))
    assert result.returncode == 0, result.stderr
    assert [path for _m, path, _b in monitor.requests] == [
        "/ping/station-07/start",
        "/ping/station-07",
    ]
    expected = "Basic " + base64.b64encode(b"office:s3cr@t-pw").decode()
    assert monitor.authorizations == [expected, expected]
    dead = f"http://office:s3cr%40t-pw@127.0.0.1:{free_port()}/ping/station-07"
    failed = agent("once", agent_env(shell_server, src, dst, CSU_PING_URL=dead))
    assert failed.returncode == 0  # a ping never fails a pass
    assert "the ping to 127.0.0.1:" in failed.stderr
    for output in (result.stdout + result.stderr, failed.stdout + failed.stderr):
        assert "s3cr" not in output
        assert "office:" not in output
        assert "/ping/station-07" not in output
