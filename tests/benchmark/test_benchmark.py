"""Keep the benchmark working: its tiny version runs end to end (timings never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.sshd_server import can_run_sshd

pytestmark = pytest.mark.benchmark
ROOT = Path(__file__).resolve().parents[2]


def test_tiny_benchmark_runs_and_checks_every_upload() -> None:
    reason = can_run_sshd()
    if reason is not None:
        pytest.skip(reason)
    result = subprocess.run(
        [sys.executable, "-m", "tests.benchmark", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| (")]
    assert len(rows) == 18  # six workloads, three tools
    project = [row for row in rows if "circadian-scp-upload" in row]
    assert all(" s | " in row and "x |" in row for row in project), project
    targets = [line for line in result.stdout.splitlines() if line.startswith("- (")]
    assert [line.split(")")[0] for line in targets] == ["- (a", "- (b", "- (c", "- (e"]
    assert all(line.endswith(("x, met", "x, not met")) for line in targets), targets
    assert "- peak memory <= 80 MB: " in result.stdout
    steady = [line for line in result.stdout.splitlines() if line.startswith(("| 4 |", "| 40 |"))]
    assert len(steady) == 4, result.stdout  # two sizes, two tools
    ours = [row.split(" | ") for row in steady if "circadian-scp-upload" in row]
    assert all(row[-1].strip(" |") == "0" for row in ours), ours  # no day folder touched
