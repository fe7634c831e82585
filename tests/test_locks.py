"""The lock files say what ships and what is tested, and stay in step with pyproject.toml,
the Dockerfile's labels and the environment the tests run in."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "requirements.lock"
TESTED = ROOT / "requirements-test.lock"
LOWEST = ROOT / "tests" / "compat" / "requirements-lowest.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)(?: ;([^\\]+))? \\$", re.MULTILINE)
pytestmark = pytest.mark.quality


def pins(lock: Path) -> dict[str, list[tuple[str, str]]]:
    """Return name -> [(version, environment marker)] of a lock file."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, version, marker in PIN.findall(lock.read_text()):
        found.setdefault(name.lower().replace("_", "-"), []).append((version, marker.strip()))
    return found


def direct_dependencies() -> list[Requirement]:
    """Return pyproject.toml's ``dependencies`` (its one list of quoted requirements)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    return [Requirement(line) for line in re.findall(r'^    "([^"]+)",$', block, re.MULTILINE)]


@pytest.mark.parametrize("lock", [SHIPPED, TESTED, LOWEST], ids=lambda p: p.name)
def test_every_pin_carries_hashes_and_every_range_is_met(lock: Path) -> None:
    text = lock.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for entry in entries:
        if entry.strip():
            assert "--hash=sha256:" in entry, f"{lock.name}: no hash for {entry.split()[0]}"
    found = pins(lock)
    for requirement in direct_dependencies():
        versions = found.get(requirement.name)
        assert versions, f"{lock.name} lacks {requirement.name}"
        for version, _marker in versions:
            assert requirement.specifier.contains(version), f"{lock.name}: {requirement}"


def test_the_lowest_lock_holds_the_lowest_versions_the_ranges_allow() -> None:
    found = pins(LOWEST)
    for requirement in direct_dependencies():
        lower = next(s.version for s in requirement.specifier if s.operator == ">=")
        [(version, _marker)] = found[requirement.name]
        assert Version(version) == Version(lower), f"{requirement.name}: {version}, not {lower}"


def test_the_test_environment_runs_the_shipped_versions() -> None:
    """CI and .venv install requirements-test.lock: the runtime libraries the tests run
    are the ones the image ships."""
    shipped = pins(SHIPPED)
    names = ("paramiko", "cryptography", "bcrypt", "pynacl", "pydantic", "pydantic-settings")
    for name in (*names, "loguru", "tenacity"):
        versions = {version for version, _marker in shipped[name]}
        assert metadata.version(name) in versions, f"{name} {metadata.version(name)}"


def test_the_image_labels_name_the_locked_versions() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    shipped = pins(SHIPPED)
    for name in ("paramiko", "cryptography", "pydantic"):
        label = re.search(rf'io\.github\.circadian-scp-upload\.{name}="([^"]+)"', dockerfile)
        assert label is not None, f"no label for {name}"
        [(version, _marker)] = shipped[name]
        assert label.group(1) == version, f"label {name}={label.group(1)}, lock {version}"
    version = re.findall(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)[0]
    assert f"ARG VERSION={version}\n" in dockerfile
