"""kill -9 at random moments across a multi-day upload with removal on, each followed by a
restart; the invariants are checked after every kill, the full state at the end."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from tests.faults.harness import check_final, check_invariants, make_files
from tests.faults.ledger import LEDGER, SOAK
from tests.integration.helpers import agent, agent_env, day, start_agent
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.faults
KILLS = 300 if SOAK else 50


def test_kill_9_at_random_moments_never_loses_or_corrupts_anything(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", shell_server.new_remote_dir("fault-kills")
    files: dict[str, int] = {}
    for offset in range(-5, -1):
        files[f"{day(offset)}/large.bin"] = 4 << 20
        for index in range(15):
            files[f"{day(offset)}/sub/small-{index:02d}.dat"] = 20_000
    original = make_files(src, files)
    # 1 MiB/s: the whole upload takes about 18 s, so the kills spread over every phase:
    # start-up, screening, uploading, verifying, removing, and idle runs at the end.
    env = agent_env(
        shell_server, src, dst, CSU_REMOVE_AFTER_UPLOAD="true", CSU_BANDWIDTH_LIMIT_KIB="1024"
    )
    rng = random.Random(917)
    while_busy = 0
    for _ in range(KILLS):
        while_busy += any((src / relpath).exists() for relpath in original)
        process = start_agent("once", env, quiet=True)
        time.sleep(rng.uniform(0.3, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
        LEDGER.faults["SIGKILL"] += 1
        check_invariants(original, src, dst)

    LEDGER.notes["kills while work remained"] = f"{while_busy} of {KILLS}"
    assert while_busy >= KILLS // 3, "the kills should mostly land in the middle of the work"
    result = agent("once", env)
    assert result.returncode == 0, result.stderr[-3000:]
    LEDGER.runs_completed += 1
    check_final(original, src, dst, removed=set(original))
    assert not any(src.iterdir()), "day folders are removed once empty"
