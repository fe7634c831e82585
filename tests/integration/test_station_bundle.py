"""install-station.sh against bundles it must refuse: a damaged copy (a USB stick that
lost a byte), values that would break .env, a missing data folder. Each refusal names
the problem and changes nothing on the station. (A sound bundle is walked end to end by
tests/container/doc_paths.py.)"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers import ROOT

pytestmark = pytest.mark.integration
INSTALL = ROOT / "deploy" / "install-station.sh"


def fake_bundle(tmp_path: Path) -> Path:
    """A bundle folder as make-bundles.sh lays it out, with a tiny stand-in image."""
    bundle = tmp_path / "circadian-scp-upload-9.9.9-arm64"
    bundle.mkdir()
    shutil.copy(INSTALL, bundle / "install-station.sh")
    for name in ("docker-compose.yml", ".env.example", "station.env.example", "OPERATOR.md"):
        shutil.copy(ROOT / "deploy" / name, bundle / name)
    shutil.copy(ROOT / "CHANGELOG.md", bundle / "CHANGELOG.md")
    (bundle / "image.tar.gz").write_bytes(gzip.compress(b"not an image, but checksummed"))
    (bundle / "VERSION").write_text("9.9.9\n")
    (bundle / "ARCH").write_text("arm64\n")
    sums = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}"
        for path in sorted(bundle.iterdir())
    ]
    (bundle / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return bundle


def install(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(bundle / "install-station.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def station_args(tmp_path: Path) -> list[str]:
    data = tmp_path / "data"
    data.mkdir()
    return [
        "--dir", str(tmp_path / "opt"), "--station", "station-07", "--data", str(data),
        "--host", "data.example.org", "--dst", "/srv/upload/station-07",
        "--timezone", "Europe/Berlin",
    ]  # fmt: skip


def test_a_damaged_bundle_is_refused_before_anything_is_loaded(
    tmp_path: Path, station_args: list[str]
) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker here (tests/container/prepare-docker.sh)")
    bundle = fake_bundle(tmp_path)
    image = bundle / "image.tar.gz"
    damaged = bytearray(image.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    image.write_bytes(bytes(damaged))
    refused = install(bundle, *station_args)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the bundle is damaged (SHA256SUMS does not match): copy it again" in refused.stderr
    assert "loading the image" not in refused.stdout
    assert not (tmp_path / "opt").exists()


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--station", "station 07", "letters, digits and ._/+@:- only"),
        ("--host", "data.example.org\nCSU_PASSWORD=x", "letters, digits and ._/+@:- only"),
        ("--dst", "/srv/upload/$(reboot)", "letters, digits and ._/+@:- only"),
        ("--data", "/nonexistent/instrument", "no such folder"),
        ("--data", "relative/data", "no such folder"),
        ("--dir", "/", "give an absolute folder of its own"),
        ("--dir", "/opt", "give an absolute folder of its own"),
    ],
)
def test_values_that_would_break_the_env_files_are_refused(
    tmp_path: Path, station_args: list[str], option: str, value: str, said: str
) -> None:
    bundle = fake_bundle(tmp_path)
    args = list(station_args)
    args[args.index(option) + 1] = value
    refused = install(bundle, *args)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert said in refused.stderr
    assert not (tmp_path / "opt").exists()
