"""Link faults through a TCP proxy: many cuts at random offsets, and a stalled link."""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultproxy import FaultProxy
from tests.faults.harness import check_final, make_files
from tests.faults.ledger import LEDGER, SOAK
from tests.integration.helpers import (
    agent,
    agent_env,
    day,
    known_hosts_for,
    partial_of,
    start_agent,
    wait_for,
)
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.faults
CUTS = 1000 if SOAK else 110


@pytest.fixture
def proxy(shell_server: SSHServer) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(shell_server.port)
    yield fault_proxy
    fault_proxy.close()


def jobs_env(
    server: SSHServer, src: Path, dst: Path, proxy: FaultProxy, tmp: Path, **extra: str
) -> dict[str, str]:
    jobs = [
        {
            "name": "dirs",
            "src": str(src / "dirs"),
            "dst": str(dst / "dirs"),
            "remove_after_upload": True,
        },
        {
            "name": "files",
            "src": str(src / "files"),
            "dst": str(dst / "files"),
            "variant": "files",
            "dated_regex": r"^%Y%m%d-.*\.bin$",
        },
    ]
    env = agent_env(
        server,
        src,
        dst,
        port=proxy.port,
        CSU_DST="",
        CSU_JOBS=json.dumps(jobs),
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(server, proxy.port, tmp)),
        CSU_RETRY_INITIAL_WAIT_SECONDS="0.01",
        CSU_RETRY_MAX_WAIT_SECONDS="0.05",
        CSU_RETRY_GIVE_UP_SECONDS="900",
    )
    env.update(extra)
    return env


def two_variant_data(src: Path, days: int, large: int, small: int, count: int) -> dict[str, int]:
    files: dict[str, int] = {}
    for offset in range(-days - 1, -1):
        files[f"dirs/{day(offset)}/large.bin"] = large
        for index in range(count):
            files[f"dirs/{day(offset)}/sub/small-{index:03d}.dat"] = small
        for letter in "abcd":
            files[f"files/{day(offset)}-{letter}.bin"] = large // 20
    return files


def test_a_hundred_cuts_at_random_offsets_lose_nothing_and_resend_little(
    shell_server: SSHServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", shell_server.new_remote_dir("fault-cuts")
    original = make_files(src, two_variant_data(src, days=3, large=4 << 20, small=4096, count=20))
    total = sum(o.size for o in original.values())
    rng = random.Random(20240917)
    # A few cuts inside the handshake, the rest anywhere; together less than the data,
    # so every one of them lands before the upload is done.
    budgets = [rng.randint(300, 4000) for _ in range(5)]
    budgets += [rng.randint(15_000, int(1.6 * total / CUTS)) for _ in range(CUTS - 5)]
    proxy.faults.cut_after_bytes = budgets
    (dst / "dirs").mkdir()
    (dst / "files").mkdir()
    subprocess.run(["chown", "-R", shell_server.user, str(dst)], check=True)

    result = agent("once", jobs_env(shell_server, src, dst, proxy, tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert proxy.cuts >= 100
    LEDGER.faults["connection cut"] += proxy.cuts
    LEDGER.runs_completed += 1
    removed = {r for r in original if r.startswith("dirs/")}
    check_final(original, src, dst, removed)
    # every cut was noticed: retried, or (when the link died between two days) the
    # connection was found dead by its probe and replaced quietly
    noticed = result.stderr.count("retrying in") + result.stderr.count("reconnecting")
    assert noticed >= proxy.cuts - 1, (noticed, proxy.cuts)
    # Resumed, never restarted from zero. What a cut loses is what was in flight (the
    # socket buffers a reset discards) plus each new connection's handshake.
    ratio = proxy.bytes_up / total
    LEDGER.notes["bytes sent / data size under cuts"] = f"{ratio:.2f}"
    assert ratio < 2.0, (proxy.bytes_up, total)


def test_a_link_cut_every_few_megabytes_completes_in_one_pass_with_default_retries(
    shell_server: SSHServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A cellular link that drops every 2-12 MB: each attempt moves data, so the backoff
    starts again from the first wait after each cut, and one pass completes."""
    src, dst = tmp_path / "src", shell_server.new_remote_dir("fault-cellular")
    files: dict[str, int] = {}
    for offset in range(-5, -1):  # 4 days x 30 MB
        files[f"{day(offset)}/spectra.bin"] = 24 << 20
        for index in range(6):
            files[f"{day(offset)}/sub/scan-{index}.dat"] = 1 << 20
    original = make_files(src, files)
    rng = random.Random(20241124)
    proxy.faults.cut_after_bytes = [rng.randint(2 << 20, 12 << 20) for _ in range(200)]
    subprocess.run(["chown", "-R", shell_server.user, str(dst)], check=True)
    env = agent_env(
        shell_server,
        src,
        dst,
        port=proxy.port,
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
        CSU_REMOVE_AFTER_UPLOAD="true",
    )
    for name in ("MAX_WAIT", "INITIAL_WAIT", "GIVE_UP"):  # the defaults, as shipped
        env.pop(f"CSU_RETRY_{name}_SECONDS", None)
    result = agent("once", env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    check_final(original, src, dst, set(original))
    cuts = proxy.cuts
    assert cuts >= 8, cuts
    summary = re.search(
        r"(\d+) retr(?:y|ies) after link faults, ([\d.]+) s spent waiting", result.stderr
    )
    assert summary is not None, result.stderr[-3000:]
    retries, waited = int(summary.group(1)), float(summary.group(2))
    assert retries >= cuts - 1, (retries, cuts)
    # every wait was a first wait (1 s plus up to 1 s of jitter): doubling would have
    # reached minutes after eight cuts
    assert waited <= 2.0 * retries, (waited, retries)
    LEDGER.faults["connection cut"] += cuts
    LEDGER.runs_completed += 1
    LEDGER.notes["cellular link: cuts, retries, seconds waiting"] = f"{cuts}, {retries}, {waited}"


def test_a_stalled_link_is_noticed_within_the_io_timeout(
    shell_server: SSHServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", shell_server.new_remote_dir("fault-stall")
    original = make_files(src, {f"dirs/{day(-2)}/big.bin": 6 << 20, f"files/{day(-2)}-a.bin": 1000})
    for area in ("dirs", "files"):
        (dst / area).mkdir()
    subprocess.run(["chown", "-R", shell_server.user, str(dst)], check=True)
    proxy.faults.bytes_per_second = 2_000_000
    env = jobs_env(shell_server, src, dst, proxy, tmp_path, CSU_IO_TIMEOUT="3")
    process = start_agent("once", env)
    partial = partial_of(dst / "dirs", dst / "dirs" / day(-2) / "big.bin")
    wait_for(lambda: partial.exists() and partial.stat().st_size > 500_000)
    proxy.faults.stall = True  # no data, no reset: a half-open link
    stalled_at = time.monotonic()
    wait_for(lambda: proxy.connections > 1, timeout=30)  # the agent reconnected by itself
    noticed_after = time.monotonic() - stalled_at
    proxy.faults.stall = False
    proxy.faults.bytes_per_second = 0
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    assert noticed_after < 3 + 5, noticed_after  # the I/O timeout plus the first retry wait
    LEDGER.faults["link stalled"] += 1
    LEDGER.runs_completed += 1
    check_final(original, src, dst, {f"dirs/{day(-2)}/big.bin"})


def test_the_proxys_uplink_limit_is_shared_by_every_connection() -> None:
    """The benchmark's station uplink (workload (f)): two connections sending at once
    share one rate, so together they take at least as long as their sum needs."""
    sink = socket.create_server(("127.0.0.1", 0))
    received = [0]

    def drain(connection: socket.socket) -> None:
        with connection:
            while data := connection.recv(65536):
                received[0] += len(data)

    def accept() -> None:
        for _ in range(2):
            connection, _address = sink.accept()
            threading.Thread(target=drain, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    link = FaultProxy(int(sink.getsockname()[1]))
    link.faults.uplink_bytes_per_second = 1_000_000
    payload = b"x" * 600_000
    started = time.monotonic()
    senders = [
        threading.Thread(
            target=lambda: socket.create_connection(("127.0.0.1", link.port)).sendall(payload)
        )
        for _ in range(2)
    ]
    for sender in senders:
        sender.start()
    wait_for(lambda: received[0] >= 2 * len(payload), timeout=30)
    elapsed = time.monotonic() - started
    link.close()
    sink.close()
    assert received[0] == 2 * len(payload)
    assert elapsed >= 1.1, elapsed  # 1.2 MB at 1 MB/s; each alone would need 0.6 s
