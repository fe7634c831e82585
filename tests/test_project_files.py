"""The files a user reads first agree with the package: the licence, the changelog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.quality


def project_field(name: str) -> str:
    text = (ROOT / "pyproject.toml").read_text()
    found: list[str] = re.findall(rf'^{name} = (?:\{{ text = )?"([^"]+)"', text, re.MULTILINE)
    return found[0]


def test_the_licence_file_is_the_one_pyproject_names() -> None:
    assert project_field("license") == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_the_changelog_has_this_version_and_its_upgrade_notes() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    version = project_field("version")
    section = changelog.split(f"\n## {version}\n", 1)[1].split("\n## ", 1)[0]
    assert "### Upgrading from " in section
    assert "CHANGELOG.md" in (ROOT / "deploy" / "OPERATOR.md").read_text()


def test_the_exit_code_table_in_the_docs_is_the_one_the_agent_prints() -> None:
    from circadian_scp_upload.outcomes import EXIT_CODE_MEANINGS

    agent_doc = (ROOT / "docs" / "agent.md").read_text()
    for code, meaning in EXIT_CODE_MEANINGS.items():
        assert f"| {code} | {meaning} |" in agent_doc, code
