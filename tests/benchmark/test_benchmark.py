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
    tools = ("circadian-scp-upload", "rsync", "scp", "lftp", "rclone")
    # workloads a-f on the test sshd, a-c on the stock sshd, a-b into memory (tmpfs)
    assert len(rows) == len(tools) * (6 + 3 + 2), rows
    for tool in tools:
        assert sum(f"| {tool} |" in row for row in rows) == 11, tool
    assert sum("| stock |" in row for row in rows) == len(tools) * 3
    assert sum("| tmpfs |" in row for row in rows) == len(tools) * 2
    project = [row.split(" | ") for row in rows if "| circadian-scp-upload |" in row]
    for cells in project:  # wall, CPU, memory, both ratios: all measured
        assert [cells[3][-2:], cells[4][-2:], cells[5][-3:], cells[6][-1:]] == [
            " s",
            " s",
            " MB",
            "x",
        ], cells
    targets = [line for line in result.stdout.splitlines() if line.startswith("- (")]
    assert [" ".join(line.split()[1:3]) for line in targets] == [
        "(a) test",
        "(a) test",
        "(b) test",
        "(c) test",
        "(c) test",
        "(c) test",
        "(e) test",
        "(e) test",
        "(e) test",
        "(a) stock",
        "(a) stock",
        "(b) stock",
        "(c) stock",
        "(c) stock",
        "(c) stock",
        "(a) tmpfs",
        "(a) tmpfs",
        "(b) tmpfs",
    ]
    assert all(line.endswith((", met", ", not met")) for line in targets), targets
    assert "- peak memory <= 80 MB: " in result.stdout
    steady = [line for line in result.stdout.splitlines() if line.startswith(("| 4 |", "| 40 |"))]
    assert len(steady) == 4, result.stdout  # two sizes, two tools
    ours = [row.split(" | ") for row in steady if "circadian-scp-upload" in row]
    assert all(row[-1].strip(" |") == "0" for row in ours), ours  # no day folder touched


def test_a_baseline_revision_runs_beside_the_current_code() -> None:
    """``--baseline REV``: the project at another revision is a tool of its own in the
    same run, and the targets say whether the current code stepped back from it."""
    reason = can_run_sshd()
    if reason is not None:
        pytest.skip(reason)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmark",
            "--tiny",
            "--workloads",
            "a,b",
            "--harnesses",
            "test",
            "--tools",
            "circadian-scp-upload,rsync",
            "--baseline",
            "HEAD",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    baseline = f"circadian-scp-upload@{head.stdout.strip()}"
    rows = [line for line in result.stdout.splitlines() if line.startswith("| (")]
    assert sum(f"| {baseline} |" in row for row in rows) == 2, rows
    steps = [line for line in result.stdout.splitlines() if f"step back from {baseline}" in line]
    assert len(steps) == 2, result.stdout
    assert all(line.endswith((", met", ", not met")) for line in steps), steps
