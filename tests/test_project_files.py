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


def test_every_image_tag_in_the_docs_is_this_version() -> None:
    """One tag everywhere: a build line tagged otherwise leaves compose looking for the
    default tag in a registry ("pull access denied")."""
    version = project_field("version")
    places = [ROOT / "README.md", ROOT / "Dockerfile", *(ROOT / "docs").glob("*.md")]
    places += [path for path in (ROOT / "deploy").rglob("*") if path.is_file()]
    found: dict[str, set[str]] = {}
    for path in places:
        if path.suffix in {".png", ".whl", ".gz"}:
            continue
        for tag in re.findall(r"circadian-scp-upload:([A-Za-z0-9._${}-]+)", path.read_text()):
            if tag.startswith(("test", "$", "{", "VERSION")):
                continue  # the test suite's own images, a variable
            found.setdefault(tag.rstrip(".}"), set()).add(path.relative_to(ROOT).as_posix())
    assert set(found) <= {
        version,
        f"{version}-amd64",
        f"{version}-arm64",
        f"{version}-armv7",
        f"{version}-armhf",
    }, found


def test_the_library_doc_lists_every_option_of_the_signatures() -> None:
    """docs/library.md shows each signature whole: an option added to the code and not to
    the document fails here."""
    import inspect

    from circadian_scp_upload import DailyTransferClient, RemoteConnection

    text = re.sub(r"\s+", " ", (ROOT / "docs" / "library.md").read_text())
    for cls in (RemoteConnection, DailyTransferClient):
        shown = re.search(rf"`{cls.__name__}\((.*?)\)`", text)
        assert shown is not None, cls.__name__
        names = {part.split("=")[0].strip(" *") for part in shown[1].split(",")}
        wanted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        assert wanted <= names, (cls.__name__, sorted(wanted - names))
