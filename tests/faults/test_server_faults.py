"""The server fails or refuses: a full disk mid-day, and every kind of refusal."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultproxy import FaultProxy
from tests.faults.harness import check_final, check_invariants, digest, leftovers, make_files
from tests.faults.ledger import LEDGER
from tests.integration.helpers import agent, agent_env, day, known_hosts_for
from tests.sshd_server import TEST_USER, SSHServer

pytestmark = pytest.mark.faults


@pytest.fixture
def small_disk(shell_server: SSHServer) -> Iterator[Path]:
    """A 3 MiB filesystem as the server's target folder."""
    path = shell_server.new_remote_dir("fault-full-disk")
    uid = subprocess.run(["id", "-u", TEST_USER], capture_output=True, text=True).stdout.strip()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=3m,uid={uid},mode=0755", "tmpfs", str(path)],
        check=True,
    )
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_server_disk_keeps_local_data_and_the_next_pass_completes(
    shell_server: SSHServer, small_disk: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    original = make_files(src, {f"{day(-2)}/part-{i}.bin": 1 << 20 for i in range(5)})
    env = agent_env(shell_server, src, small_disk, CSU_REMOVE_AFTER_UPLOAD="true")

    result = agent("once", env)
    assert result.returncode == 1, result.stderr
    assert "the server's disk is full" in result.stderr
    assert "Traceback" not in result.stderr
    LEDGER.faults["server disk full"] += 1
    check_invariants(original, src, small_disk)
    assert all((src / relpath).exists() for relpath in original), "local data must stay"
    for path in small_disk.rglob("*"):  # whatever has a final name is complete
        if path.is_file() and ".csu" not in path.relative_to(small_disk).parts:
            relpath = path.relative_to(small_disk).as_posix()
            assert digest(path) == original[relpath].sha256

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    result = agent("once", env)
    assert result.returncode == 0, result.stderr
    LEDGER.runs_completed += 1
    check_final(original, src, small_disk, removed=set(original))


@pytest.fixture
def proxy(shell_server: SSHServer) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(shell_server.port)
    yield fault_proxy
    fault_proxy.close()


def other_key(tmp_path: Path) -> Path:
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


REFUSALS = {
    "wrong password": (3, "refused the login"),
    "wrong key": (3, "refused the login"),
    "changed host key": (3, "CHANGED"),
    "permission denied": (1, "permission denied"),
    "target is a file": (1, "is a file, but a folder is needed"),
}


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_each_refusal_gives_one_clear_error_without_a_retry_storm(
    shell_server: SSHServer, proxy: FaultProxy, tmp_path: Path, refusal: str
) -> None:
    src = tmp_path / "src"
    original = make_files(src, {f"{day(-2)}/a.dat": 1000, f"{day(-3)}/b.dat": 2000})
    dst = shell_server.new_remote_dir(f"fault-refusal-{refusal.replace(' ', '-')}")
    known = known_hosts_for(shell_server, proxy.port, tmp_path)
    extra: dict[str, str] = {"CSU_KNOWN_HOSTS_FILE": str(known)}
    if refusal == "wrong password":
        extra |= {"CSU_KEY_FILE": "", "CSU_PASSWORD": "not-the-password"}
    elif refusal == "wrong key":
        extra |= {"CSU_KEY_FILE": str(other_key(tmp_path))}
    elif refusal == "changed host key":
        kind, blob = other_key(tmp_path).with_suffix(".pub").read_text().split()[:2]
        known.write_text(f"[127.0.0.1]:{proxy.port} {kind} {blob}\n")
    elif refusal == "permission denied":
        dst.chmod(0o555)
    else:
        dst.rmdir()
        dst.write_text("a file where the folder belongs")
    expected_code, expected_text = REFUSALS[refusal]

    result = agent("once", agent_env(shell_server, src, dst, port=proxy.port, **extra))
    assert result.returncode == expected_code, result.stderr
    assert expected_text in result.stderr
    assert "Traceback" not in result.stderr
    assert "not-the-password" not in result.stderr
    assert proxy.connections == 1, "a refusal is not retried within the pass"
    assert "retrying in" not in result.stderr
    LEDGER.faults[f"refused: {refusal}"] += 1
    for relpath, expected in original.items():
        assert digest(src / relpath) == expected.sha256
    assert leftovers(src) == []
