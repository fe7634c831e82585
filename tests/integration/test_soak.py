"""Memory over time (data safety round three, 12): thousands of the daemon's passes
against a real sshd, link cuts among them, and resident memory that levels off."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import write_file
from tests.faultproxy import FaultProxy
from tests.faults.ledger import LEDGER
from tests.integration.helpers import ROOT, agent, agent_env, day, known_hosts_for
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.integration
PASSES = 3000
CUT_EVERY_SECONDS = 3.0
MAX_GROWTH_KIB = 3 * 1024  # the end against the sample after the first hundred passes


def test_thousands_of_passes_with_link_cuts_keep_memory_level(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for offset in (-4, -3, -2):
        for index in range(5):
            write_file(src / day(offset) / f"f{index}.txt", bytes([index]) * 2000)
    dst = shell_server.new_remote_dir("soak")
    proxy = FaultProxy(shell_server.port)
    env = agent_env(
        shell_server,
        src,
        dst,
        CSU_PORT=str(proxy.port),
        CSU_KNOWN_HOSTS_FILE=str(known_hosts_for(shell_server, proxy.port, tmp_path)),
        CSU_STATE_DIR=str(tmp_path / "state"),
        CSU_RETRY_INITIAL_WAIT_SECONDS="0.05",
    )
    assert agent("once", env).returncode == 0  # the days are on the server: idle passes
    stop = threading.Event()
    cuts = []

    def cut() -> None:
        while not stop.wait(CUT_EVERY_SECONDS):
            proxy.cut_all()
            cuts.append(time.monotonic())

    cutter = threading.Thread(target=cut, daemon=True)
    cutter.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tests.integration.soak_driver", str(PASSES)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        stop.set()
        cutter.join()
        proxy.close()
    assert result.returncode == 0, result.stderr[-3000:]
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    first, last = samples[0], samples[-1]
    growth = last["rss_kib"] - first["rss_kib"]
    print(f"soak: {PASSES} passes, {len(cuts)} cuts, RSS {first} -> {last}")
    assert last["pass"] == PASSES
    assert len(cuts) >= 3, "the link was cut while the passes ran"
    assert set(last["outcomes"]) <= {"ok"}, last["outcomes"]  # every cut was retried
    assert last["threads"] <= first["threads"] + 2, (first, last)
    assert growth <= MAX_GROWTH_KIB, samples
    LEDGER.notes["soak: passes, link cuts, RSS after 100 and at the end (KiB)"] = (
        f"{PASSES}, {len(cuts)}, {first['rss_kib']} -> {last['rss_kib']}"
    )
