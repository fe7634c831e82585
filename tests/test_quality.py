"""Lint, format and strict typing run as part of the test suite: one command checks all."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.quality


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=cwd, capture_output=True, text=True)


def test_ruff_lint_is_clean() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = run("mypy", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_snippet_type_checks_against_the_installed_package(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "DailyTransferClient(" in snippet
    (tmp_path / "snippet.py").write_text(textwrap.dedent(snippet))
    # Run from elsewhere so the installed package, not the source tree, is checked.
    result = run("mypy", "--strict", "--no-incremental", "snippet.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layers_are_kept_by_the_import_contracts() -> None:
    """The dependency rule of pyproject.toml's [tool.importlinter] (README, Architecture):
    every module sits in a layer and imports only those below it, the transport and the
    station's disk nothing but errors, only the transport imports paramiko, and the
    engine sees the transport only through its Protocol."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 kept, 0 broken" in result.stdout, result.stdout
