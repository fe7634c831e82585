"""The lowest versions pyproject.toml allows, tested as the newest are.

``tests/compat/requirements-lowest.lock`` holds the lowest allowed paramiko,
pydantic-settings, loguru and tenacity. This tier installs it into ``.venv-lowest``
and runs, against real sshd servers, the tests that exercise every private paramiko
hook (``remote/compat.py``): the hooks' own checks, pipelined batches, several SFTP
channels, streams and resume, key renewals, the probe, link faults. It also installs the
lowest set with Python 3.10 and 3.12, the ends of the supported range.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sshd_server import can_run_sshd

ROOT = Path(__file__).resolve().parents[2]
LOWEST = ROOT / "tests" / "compat" / "requirements-lowest.lock"
VENV = ROOT / ".venv-lowest"
PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
pytestmark = pytest.mark.compat

# Each touches hooks: test_compat (all of them, on live objects), test_upload (batches,
# streams, the probe, listings, fsync, key renewals), test_interruptions (resume,
# pending writes), the CLI's long link (lanes), the link faults (translation, retries).
SUBSET = [
    "tests/unit",
    "tests/integration/test_upload.py",
    "tests/integration/test_interruptions.py",
    "tests/integration/test_agent_cli.py::test_a_long_link_shares_the_upload_among_several_sftp_channels",
    "tests/faults/test_link_faults.py",
]


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        check=True,
        cwd=ROOT,
        timeout=900,
    )


def _make_venv(base_python: str, where: Path) -> Path:
    """Return the interpreter of a virtual environment at ``where`` holding the lowest
    set and this package; made again only when the lock changed."""
    stamp = hashlib.sha256(LOWEST.read_bytes() + base_python.encode()).hexdigest()
    python = where / "bin" / "python"
    if (where / "lock.sha256").exists() and (where / "lock.sha256").read_text() == stamp:
        return python
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run([base_python, "-m", "venv", str(where)], check=True, timeout=300)
    _pip(python, "--require-hashes", "-r", str(LOWEST))
    _pip(python, "--no-deps", "-e", str(ROOT))
    (where / "lock.sha256").write_text(stamp)
    return python


def test_the_hook_tiers_pass_against_the_lowest_allowed_versions() -> None:
    reason = can_run_sshd()
    if reason is not None:
        pytest.skip(reason)
    python = _make_venv(sys.executable, VENV)
    versions = subprocess.run(
        [
            str(python),
            "-c",
            "import paramiko, tenacity, loguru; from importlib import metadata;"
            "print(paramiko.__version__, metadata.version('pydantic-settings'),"
            " metadata.version('tenacity'), metadata.version('loguru'),"
            " metadata.version('pydantic'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert versions == ["3.5.0", "2.2.0", "8.2.0", "0.7.0", "2.7.0"], versions
    result = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not compat", *SUBSET],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "CI": os.environ.get("CI", "")},
    )
    summary = result.stdout.strip().splitlines()[-1:] or [""]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in summary[0], summary
    assert "skipped" not in summary[0], summary


@pytest.mark.parametrize("minor", ["3.10", "3.12"])
def test_the_lowest_set_installs_on_the_ends_of_the_python_range(
    minor: str, tmp_path: Path
) -> None:
    """With that Python where the machine has one (pyenv's): a real install of the
    lowest set and the agent's command. Where it has none, uv resolves the lowest
    runtime set for that Python (its markers evaluated for that version, wheels only):
    a resolution, not an install, and said so."""
    found = sorted(PYENV.glob(f"{minor}.*/bin/python{minor}"))
    if found:
        python = _make_venv(str(found[-1]), tmp_path / "venv")
        out = subprocess.run(
            [str(python), "-m", "circadian_scp_upload", "--version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "paramiko 3.5.0" in out, out
        assert f"Python {minor}." in out, out
        return
    print(f"no Python {minor} here: resolving the lowest set for it instead of installing")
    resolved = subprocess.run(
        [
            str(Path(sys.executable).parent / "uv"),
            "pip",
            "compile",
            "pyproject.toml",
            "--resolution",
            "lowest-direct",
            "--python-version",
            minor,
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--only-binary",
            ":all:",
            "-c",
            "tests/compat/constraints.txt",
            "--no-header",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        timeout=600,
    )
    assert resolved.returncode == 0, resolved.stderr
    assert "paramiko==3.5.0" in resolved.stdout, resolved.stdout
