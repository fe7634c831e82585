"""Lint, format and strict typing run as part of the test suite: one command checks all."""

from __future__ import annotations

import ast
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


def test_no_module_over_450_lines_and_no_class_over_300() -> None:
    """The package stays in pieces a reader can hold in mind (the layering issue's rule)."""
    too_long = []
    for path in sorted((ROOT / "agent").rglob("*.py")):
        source = path.read_text()
        if len(source.splitlines()) > 450:
            too_long.append(f"{path.relative_to(ROOT)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > 300:
                    too_long.append(f"{path.relative_to(ROOT)}: class {node.name}: {lines} lines")
    assert not too_long, too_long
