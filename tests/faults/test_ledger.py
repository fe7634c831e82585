"""The fault suite's measuring instrument (round three, 8): its ledger counts a loss it
sees, and a session that lost data fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.faults.harness import check_final, check_invariants, make_files
from tests.faults.ledger import Ledger

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[2]


def plant_a_loss(tmp_path: Path, ledger: Ledger) -> int:
    """Upload by hand, remove locally, then rot the server's copy with its size and
    modification time kept (what a quick check would trust); return its size."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    original = make_files(src, {"20240917/a.bin": 4096, "20240917/b.bin": 1000})
    shutil.copytree(src, dst)
    rotten = dst / "20240917" / "a.bin"
    stat = rotten.stat()
    rotten.write_bytes(b"\0" * 4096)
    os.utime(rotten, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    for relpath in original:
        (src / relpath).unlink()
    with pytest.raises(AssertionError, match="missing or wrong on the server"):
        check_final(original, src, dst, removed=set(original), ledger=ledger)
    with pytest.raises(AssertionError, match="local file removed before"):
        check_invariants(original, src, dst, ledger=ledger)
    return 4096


def test_the_ledger_counts_a_planted_loss(tmp_path: Path) -> None:
    ledger = Ledger()
    size = plant_a_loss(tmp_path, ledger)
    assert ledger.bytes_lost == size  # seen by both checks, counted once
    assert "| bytes lost" in ledger.table()
    assert f"{size} bytes exist nowhere intact" in (ledger.verdict() or "")
    assert ledger.files_verified == 1  # b.bin


def test_a_session_that_lost_data_fails_even_when_its_tests_pass(tmp_path: Path) -> None:
    planted = tmp_path / "test_planted.py"
    planted.write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            from tests.faults.ledger import LEDGER
            from tests.faults.test_ledger import plant_a_loss


            def test_plant(tmp_path: Path) -> None:
                plant_a_loss(tmp_path, LEDGER)  # the test itself passes
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(planted),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 passed" in result.stdout, result.stdout
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "| bytes lost                           | 4096 |" in result.stdout, result.stdout
    assert "FAILED: the fault suite lost data: 4096 bytes exist nowhere intact" in result.stdout
