"""Security and bad input, round two, against a real sshd: host keys that cannot be
recorded, secrets, the state folder, configuration found only by reading it, local I/O
errors, and waits that must end (the data-safety issue's cases 8-17)."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import tree, write_file
from tests.faultproxy import FaultProxy
from tests.faults.harness import leftovers
from tests.faults.ledger import LEDGER
from tests.integration.helpers import (
    WITHOUT_DAC_OVERRIDE,
    agent,
    agent_env,
    day,
    known_hosts_for,
    make_day_dirs,
    start_agent,
    wait_for,
)
from tests.sshd_server import SSHServer, start_sshd
from tests.unit.conftest import openssh_private_key

pytestmark = pytest.mark.faults
NOBODY = pwd.getpwnam("nobody")


def bytes_read(pid: int) -> int:
    """Return the bytes a process has read so far (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return 0
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar")))


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder holding an empty known_hosts file, bind-mounted read-only."""
    folder = tmp_path / "ro-src"
    folder.mkdir()
    (folder / "known_hosts").write_text("")
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "--bind", str(folder), str(mount)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_accept_new_with_a_read_only_known_hosts_records_privately_and_refuses_a_change(
    shell_server: SSHServer, read_only_folder: Path, tmp_path: Path
) -> None:
    """8: the key accepted on first use is kept; another key later is refused."""
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("accept-new-ro")
    proxy = FaultProxy(shell_server.port)
    state = tmp_path / "state"
    env = agent_env(
        shell_server,
        src,
        dst,
        port=proxy.port,
        CSU_ACCEPT_NEW_HOST_KEY="true",
        CSU_KNOWN_HOSTS_FILE=str(read_only_folder / "known_hosts"),
        CSU_STATE_DIR=str(state),
    )
    try:
        first = agent("once", env)
        assert first.returncode == 0, first.stderr[-2000:]
        assert "trusting the new host key" in first.stderr
        recorded = (state / "accepted_host_keys").read_text()
        assert recorded.startswith(f"[127.0.0.1]:{proxy.port} ssh-ed25519 ")
        assert (state / "accepted_host_keys").stat().st_mode & 0o777 == 0o600
        second = agent("once", env)  # the same key: trusted, not "new" again
        assert "trusting the new host key" not in second.stderr
        impostor = start_sshd(tmp_path / "impostor")
        try:
            proxy.target_port = impostor.port  # another server answers at the same address
            changed = agent("once", env)
        finally:
            impostor.stop()
        assert changed.returncode == 3, changed.stderr[-2000:]
        assert "CHANGED" in changed.stderr
    finally:
        proxy.close()
    # kept in a tmpfs (the image's /tmp), a restart would forget the key: refused at start
    memory = tmp_path / "memory"
    memory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(memory)], check=True)
    try:
        forgetful = agent("once", env | {"CSU_STATE_DIR": str(memory / "state")})
    finally:
        subprocess.run(["umount", str(memory)], check=False)
    assert forgetful.returncode == 2
    assert "a tmpfs that every restart empties" in forgetful.stderr
    LEDGER.faults["accept-new with a read-only known_hosts"] += 2


def test_secrets_in_unreadable_keys_never_reach_the_log(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """9, 12: a key that does not parse, or does not open with its passphrase, is a
    configuration error at start; neither the key nor the passphrase is printed."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir("bad-keys")
    encrypted = openssh_private_key(b"the-right-passphrase")
    cases = {
        "garbage key text": {"CSU_PRIVATE_KEY": "not-a-key-but-a-secret-XYZ123abc"},
        "wrong passphrase": {
            "CSU_PRIVATE_KEY": encrypted,
            "CSU_KEY_PASSPHRASE": "a-wrong-passphrase-123",
        },
    }
    for name, extra in cases.items():
        env = agent_env(shell_server, src, dst, CSU_KEY_FILE="") | extra
        result = agent("once", env)  # agent() fails on any secret in any line
        assert result.returncode == 2, (name, result.stderr)
        assert "CSU_PRIVATE_KEY: " in result.stderr
        assert "Traceback" not in result.stderr
    LEDGER.faults["unreadable keys (secrets kept out of the log)"] += len(cases)


def test_the_state_folder_is_private_and_never_written_through_a_link(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """10: CSU_KNOWN_HOSTS is never written to a file; links planted there are replaced,
    never followed; a folder of another user is refused."""
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("state-folder")
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    victim = tmp_path / "victim.txt"
    victim.write_text("must stay")
    (state / "health.json").symlink_to(victim)
    env = agent_env(
        shell_server,
        src,
        dst,
        CSU_STATE_DIR=str(state),
        CSU_KNOWN_HOSTS_FILE="",
        CSU_KNOWN_HOSTS=shell_server.known_hosts.read_text(),
    )
    result = agent("once", env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert victim.read_text() == "must stay"
    assert not (state / "health.json").is_symlink()
    assert state.stat().st_mode & 0o777 == 0o700
    names = {p.name for p in state.iterdir()}
    assert names == {"health.json", "status.json", "verified-days.json"}  # no known_hosts
    others = tmp_path / "others"
    others.mkdir()
    os.chown(others, NOBODY.pw_uid, NOBODY.pw_gid)
    refused = agent("once", env | {"CSU_STATE_DIR": str(others)})
    assert refused.returncode == 2
    assert f"CSU_STATE_DIR: {str(others)!r} belongs to uid {NOBODY.pw_uid}" in refused.stderr
    operator = (Path(__file__).resolve().parents[2] / "deploy" / "OPERATOR.md").read_text()
    assert "chmod 0644" not in operator
    LEDGER.faults["state folder: planted link, foreign owner"] += 2


def test_configuration_found_only_by_reading_it_and_newlines_and_misspellings(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """12, 13, 14: every reading problem at start (exit 2), a trailing newline in a
    secret file, and a misspelt variable named with the closest known one."""
    src = tmp_path / "src"
    make_day_dirs(src, [day(-2)], files_per_day=1)
    dst = shell_server.new_remote_dir("config-reading")
    no_credential = agent_env(shell_server, src, dst, CSU_KEY_FILE="")
    no_credential.pop("SSH_AUTH_SOCK", None)
    result = agent("once", no_credential)
    assert result.returncode == 2
    assert "no credential" in result.stderr
    directory_as_key = agent_env(shell_server, src, dst, CSU_KEY_FILE=str(tmp_path))
    result = agent("check", directory_as_key)
    assert result.returncode == 2
    assert f"CSU_KEY_FILE: cannot read the private key file {str(tmp_path)!r}" in result.stderr
    password_file = tmp_path / "password"
    password_file.write_text(shell_server.password + "\n")  # as `echo pw > file` writes it
    by_file = agent_env(
        shell_server,
        src,
        dst,
        CSU_KEY_FILE="",
        CSU_PASSWORD_FILE=str(password_file),
        CSU_REMOVE_AFTER_UPLAOD="true",
    )
    result = agent("once", by_file)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "CSU_REMOVE_AFTER_UPLAOD is not a variable this agent knows: it is ignored; "
        "did you mean CSU_REMOVE_AFTER_UPLOAD?"
    ) in result.stderr
    assert len(tree(dst)) == 2
    LEDGER.faults["configuration found only by reading it"] += 4


def test_check_tries_once_and_says_what_failed(shell_server: SSHServer, tmp_path: Path) -> None:
    """15: check does not use the daemon's retry policy."""
    src = tmp_path / "src"
    src.mkdir()
    dst = shell_server.new_remote_dir("check-once")
    closed = FaultProxy(shell_server.port)
    port = closed.port
    closed.close()  # nothing listens there any more
    for host, expected in (
        ("no-such-host.invalid", "cannot resolve 'no-such-host.invalid'"),
        (f"127.0.0.1:{port}", f"cannot reach 127.0.0.1:{port}"),
    ):
        env = agent_env(shell_server, src, dst, CSU_HOST=host, CSU_PORT="22")
        started = time.monotonic()
        result = agent("check", env, timeout=60)
        assert time.monotonic() - started < 15
        assert result.returncode == 1, result.stderr
        assert expected in result.stderr
        assert "retrying in" not in result.stderr
    LEDGER.faults["check against an unreachable server"] += 2


def test_local_io_errors_fail_their_day_with_the_path_named(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """16: an unreadable file, a day folder that cannot be written, a source folder that
    cannot be locked; the agent runs as root without the capabilities that override file
    permissions, so it meets them as a station's unprivileged user would."""
    src = tmp_path / "src"
    make_day_dirs(src, [day(-4), day(-3), day(-2)], files_per_day=2)
    unreadable = src / day(-4) / "file0.txt"
    os.chown(unreadable, NOBODY.pw_uid, NOBODY.pw_gid)
    unreadable.chmod(0o000)
    locked_day = src / day(-3)
    for path in (locked_day, *locked_day.rglob("*")):
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    locked_day.chmod(0o555)
    dst = shell_server.new_remote_dir("local-io")
    env = agent_env(shell_server, src, dst, CSU_STATE_DIR=str(tmp_path / "state"))
    result = agent("once", env, prefix=WITHOUT_DAC_OVERRIDE)
    assert result.returncode == 1, result.stderr[-3000:]
    assert f"cannot read the local file {str(unreadable)!r} (Permission denied)" in result.stderr
    marker = locked_day / ".do-not-touch"
    assert f"cannot write the local marker {str(marker)!r} (Permission denied)" in result.stderr
    assert "write access there" not in result.stderr  # not blamed on the server
    assert "a bug" not in result.stderr
    assert (dst / day(-4) / "file1.txt").exists()  # the rest of that day went
    assert (dst / day(-2) / "file0.txt").exists()  # and the other days
    assert not (dst / day(-3)).exists()
    src.chmod(0o700)
    os.chown(src, NOBODY.pw_uid, NOBODY.pw_gid)
    result = agent("once", env, prefix=WITHOUT_DAC_OVERRIDE)
    assert f"cannot lock the source folder {str(src)!r} (Permission denied)" in result.stderr
    assert "another agent" not in result.stderr
    LEDGER.faults["local I/O errors (permissions)"] += 3


def test_every_wait_is_bounded_and_a_stop_ends_each_phase_within_2_seconds(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """17: a stalled server in the middle of a batch costs one I/O timeout, not one per
    file; SIGTERM ends a pass within 2 s while hashing locally and while waiting to retry."""
    src = tmp_path / "src"
    files = {f"{day(-2)}/many/f{i:03d}.dat": 2000 for i in range(400)}
    for relpath, size in files.items():
        write_file(src / relpath, os.urandom(size))
    dst = shell_server.new_remote_dir("bounded-waits")
    proxy = FaultProxy(shell_server.port)
    proxy.faults.bytes_per_second = 200_000
    env = agent_env(
        shell_server,
        src,
        dst,
        port=proxy.port,
        CSU_IO_TIMEOUT="2",
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
    )
    process = start_agent("once", env)
    wait_for(lambda: any(dst.rglob("*.csu-partial")), timeout=30)
    proxy.faults.stall = True
    stalled = time.monotonic()
    wait_for(lambda: proxy.connections > 1, timeout=60)
    noticed = time.monotonic() - stalled
    proxy.faults.stall = False
    proxy.faults.bytes_per_second = 0
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-2000:]
    assert noticed < 2 + 2 + 4, noticed  # one I/O timeout, the first retry, slack
    assert len(tree(dst / day(-2) / "many")) == 400
    proxy.close()

    big = src / day(-3) / "huge.bin"
    big.parent.mkdir(parents=True)
    with big.open("wb") as handle:
        handle.truncate(24 << 30)  # sparse: hashing it reads 24 GiB of zeros
    (dst / day(-3)).mkdir()
    subprocess.run(["cp", "--sparse=always", str(big), str(dst / day(-3))], check=True)
    subprocess.run(["chown", "-R", shell_server.user, str(dst)], check=True)
    removing = agent_env(shell_server, src, dst, CSU_REMOVE_AFTER_UPLOAD="true")
    process = start_agent("once", removing)
    # hashing 24 GiB to prove it before removal: its reads show in /proc
    wait_for(lambda: bytes_read(process.pid) > 2 << 30, timeout=60)
    assert process.poll() is None
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - asked < 2, stderr[-2000:]
    assert process.returncode == 0
    assert big.exists()

    down = agent_env(
        shell_server,
        src,
        dst,
        CSU_HOST="127.0.0.1:1",
        CSU_RETRY_INITIAL_WAIT_SECONDS="60",
        CSU_RETRY_MAX_WAIT_SECONDS="60",
    )
    process = start_agent("once", down)
    wait_for(lambda: (Path(down["CSU_STATE_DIR"]) / "health.json").exists(), timeout=30)
    time.sleep(1)  # in the first retry wait
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert time.monotonic() - asked < 2
    assert leftovers(src) == []
    LEDGER.faults["stalls and stops in every phase"] += 3
