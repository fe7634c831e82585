"""Data safety, round four: the station's disk is not the agent's, against a real sshd.

Each test is one finding of the issue (its docstring says which); the fault suite's
summary table counts them. Every one failed on the previous release.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import tree, write_file
from tests.faults.ledger import LEDGER
from tests.integration.helpers import agent, agent_env, day, leftovers
from tests.sshd_server import SSHServer, can_run_sshd, running_sshd

pytestmark = pytest.mark.faults


def test_a_file_named_like_a_temporary_one_is_data_and_never_deleted_from_the_server(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """A verified file whose name has the agent's (old) temporary form was a leftover to
    the engine: after its local copy went, the next pass of its day deleted the only copy
    on the server. Now it is data: uploaded beside its namesake, never removed there."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir("temporary-lookalike")
    theirs = {
        "x.bin": os.urandom(300_000),
        ".x.bin.csu-partial": os.urandom(300_000),  # the instrument's own, same day
        ".gone.csu-partial": b"only copy",
    }
    for name, content in theirs.items():
        write_file(src / day(-2) / name, content)
    env = agent_env(shell_server, src, dst, CSU_REMOVE_AFTER_UPLOAD="true")
    first = agent("once", env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert tree(dst / day(-2)) == theirs
    assert not (src / day(-2)).exists()  # every local copy verified and removed
    write_file(src / day(-2) / "late.bin", b"late")  # the day receives more: a pass of it
    second = agent("once", env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert tree(dst / day(-2)) == theirs | {"late.bin": b"late"}
    assert leftovers(dst) == []
    LEDGER.faults["files named like the agent's temporary files"] += 3
    LEDGER.files_verified += 4
    LEDGER.bytes_verified += sum(len(c) for c in theirs.values()) + 4


def test_a_marker_planted_as_a_link_to_the_agents_key_leaves_the_key_alone(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """Whoever can write the data folder makes a day's ``.do-not-touch`` a link to the
    agent's key: the agent replaced the key's content with marker text."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir("marker-link")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    key = state / "station_key"
    shutil.copy(shell_server.key_file, key)
    before = key.read_bytes()
    write_file(src / day(-2) / "a.bin", b"a")
    (src / day(-2) / ".do-not-touch").symlink_to(key)
    env = agent_env(
        shell_server,
        src,
        dst,
        CSU_KEY_FILE=str(key),
        CSU_STATE_DIR=str(state),
        CSU_REMOVE_AFTER_UPLOAD="true",
    )
    result = agent("once", env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert key.read_bytes() == before
    assert tree(dst / day(-2)) == {"a.bin": b"a"}
    assert not (src / day(-2)).exists()
    LEDGER.faults["a local marker planted as a link"] += 1


@pytest.fixture(scope="module")
def no_xargs_server() -> Iterator[SSHServer]:
    """A full OpenSSH server whose sessions find sha256sum and openssl but no xargs: the
    per-day hasher fails for every file while single files hash fine."""
    reason = can_run_sshd()
    if reason is not None:
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="csu-sshd-noxargs-"))
    tools = workdir / "bin"
    tools.mkdir()
    for name in ("sh", "bash", "cat", "sha256sum", "openssl", "printf", "date", "sync", "grep"):
        found = shutil.which(name)
        assert found is not None, name
        (tools / name).symlink_to(found)
    tools.chmod(0o755)
    with running_sshd(workdir, extra_config=f"SetEnv PATH={tools}\n") as server:
        yield server


def test_a_broken_day_hasher_proves_by_reading_back(
    no_xargs_server: SSHServer, tmp_path: Path
) -> None:
    """No xargs on the server: small files were never proven, and the day failed every
    pass for ever. Now they are read back and proven, and removed."""
    src = tmp_path / "src"
    dst = no_xargs_server.new_remote_dir("no-xargs")
    written = {f"f{i}.txt": os.urandom(1000 + i) for i in range(5)}
    for name, content in written.items():
        write_file(src / day(-2) / name, content)
    env = agent_env(no_xargs_server, src, dst, CSU_REMOVE_AFTER_UPLOAD="true")
    result = agent("once", env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hashing on the server failed for every file of a day" in result.stderr
    assert tree(dst / day(-2)) == written
    assert not (src / day(-2)).exists()
    LEDGER.faults["a day hasher that fails for every file"] += 1
    LEDGER.files_verified += len(written)
    LEDGER.bytes_verified += sum(len(c) for c in written.values())


class SilentServer:
    """A TCP server on loopback that takes connections and then says nothing more: no
    banner at all, or its banner and nothing after (a hang in the key exchange)."""

    def __init__(self, banner: bytes) -> None:
        self.banner = banner
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                self.held.append(conn)
                if self.banner:
                    conn.sendall(self.banner)

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize(
    ("banner", "phase", "hint"),
    [
        (b"", "while waiting for the server's SSH banner", "MaxStartups"),
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "during the key exchange", "MTU"),
    ],
    ids=["no banner", "mid key exchange"],
)
def test_a_server_that_stops_answering_is_given_up_in_time_and_the_phase_named(
    shell_server: SSHServer, tmp_path: Path, banner: bytes, phase: str, hint: str
) -> None:
    """The message was paramiko's `No existing session`; now it names how far the
    connection came and what to check, within the connect timeout (one try: `check`)."""
    silent = SilentServer(banner)
    try:
        env = agent_env(
            shell_server,
            tmp_path / "src",
            shell_server.new_remote_dir(f"silent-{silent.port}"),
            CSU_PORT=str(silent.port),
            CSU_CONNECT_TIMEOUT="2",
            CSU_HOST_KEY_FINGERPRINT=shell_server.host_key_fingerprint,
        )
        env.pop("CSU_KNOWN_HOSTS_FILE", None)
        (tmp_path / "src").mkdir()
        result = agent("check", env, timeout=60)
    finally:
        silent.close()
    assert result.returncode == 1, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert f"127.0.0.1:{silent.port} failed {phase}" in said, said[-2000:]
    assert hint in said
    assert "No existing session" not in said.replace("(SSHException: No existing session)", "")
    LEDGER.faults["a server that stops answering before the login"] += 1
