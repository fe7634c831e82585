"""The container tier: the image's properties, and docker-compose.test.yml end to end.

Needs a Docker engine and docker-compose (tests/container/prepare-docker.sh sets both
up on Debian), and for the ARM images qemu emulation and local Debian ARM bases
(tests/container/prepare-arm.sh). Without them these tests skip with the reason; in CI
a skip fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from tests.container import doc_paths

pytestmark = pytest.mark.container
ROOT = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker"
IMAGE = "circadian-scp-upload:test"
# platform -> (qemu binfmt entry, local Debian base, what `uname -m` says inside)
ARM = {
    "linux/arm64": ("qemu-aarch64", "csu-local/debian-python:bookworm-arm64", "aarch64"),
    "linux/arm/v7": ("qemu-arm", "csu-local/debian-python:bookworm-armhf", "armv7l"),
}


def docker_missing() -> str | None:
    if not Path(DOCKER).exists() or shutil.which("docker-compose") is None:
        return "no Docker engine/docker-compose here (run tests/container/prepare-docker.sh)"
    if subprocess.run([DOCKER, "info"], capture_output=True).returncode != 0:
        return "the Docker daemon is not running (run tests/container/prepare-docker.sh)"
    return None


@pytest.fixture(scope="module")
def images() -> None:
    reason = docker_missing()
    if reason is not None:
        pytest.skip(reason)
    result = subprocess.run(
        ["bash", "tests/container/build-images.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def arm_missing(platform: str) -> str | None:
    qemu, base, _ = ARM[platform]
    if not Path("/proc/sys/fs/binfmt_misc", qemu).exists():
        return f"no {qemu} emulation registered (run tests/container/prepare-arm.sh)"
    if docker("image", "inspect", base).returncode != 0:
        return f"no local base {base} (run tests/container/prepare-arm.sh)"
    return None


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=120)


def test_image_runs_as_non_root_with_healthcheck_and_labels(images: None) -> None:
    [info] = json.loads(docker("image", "inspect", IMAGE).stdout)
    config = info["Config"]
    assert config["User"] == "csu"
    assert config["Entrypoint"] == ["circadian-scp-upload"]
    assert config["Cmd"] == ["run"]
    assert "healthcheck" in config["Healthcheck"]["Test"]
    assert config["Labels"]["org.opencontainers.image.title"] == "circadian-scp-upload"
    uid = docker("run", "--rm", "--entrypoint", "id", IMAGE, "-u").stdout.strip()
    assert uid == "10001"
    print(f"image size: {info['Size'] / 1e6:.0f} MB")


def test_image_runs_the_locked_versions_and_its_labels_say_which(images: None) -> None:
    """The image installs requirements.lock: ``--version`` inside names the locked
    versions, and so do its labels."""
    [info] = json.loads(docker("image", "inspect", IMAGE).stdout)
    labels = info["Config"]["Labels"]
    said = docker("run", "--rm", IMAGE, "--version").stdout
    lock = (ROOT / "requirements.lock").read_text()
    for name in ("paramiko", "cryptography", "pydantic"):
        version = labels[f"io.github.circadian-scp-upload.{name}"]
        assert f"\n{name}=={version} " in lock, name
        assert f"{name} {version}," in said, said
    freeze = docker("run", "--rm", "--entrypoint", "pip", IMAGE, "freeze", "--all").stdout
    for line in freeze.splitlines():
        name, _, version = line.partition("==")
        if version and name.lower() not in ("pip", "setuptools", "wheel", "circadian-scp-upload"):
            normalized = name.lower().replace("_", "-")
            assert f"\n{normalized}=={version}" in lock, f"{line} is not what the lock says"


def test_image_reports_bad_configuration_with_exit_2_on_a_read_only_root(images: None) -> None:
    result = docker(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-e",
        "CSU_PORT=x",
        "-e",
        "CSU_PASSWORD=never-shown-pw",
        IMAGE,
        "once",
    )
    assert result.returncode == 2
    assert "CSU_HOST: missing" in result.stderr
    assert "CSU_PORT:" in result.stderr
    assert "never-shown-pw" not in result.stderr
    assert "Traceback" not in result.stderr


def test_image_runs_with_the_uid_of_the_data_volume_owner(images: None, tmp_path: Path) -> None:
    result = docker(
        "run", "--rm", "--user", "1234:1234", "--read-only", "--tmpfs", "/tmp", IMAGE, "exit-codes"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("0  success")


def test_compose_stack_uploads_verifies_and_survives_a_server_restart(images: None) -> None:
    result = subprocess.run(
        ["bash", "tests/container/run-compose-test.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**_env(), "CSU_SKIP_BUILD": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "; 0 problems" in output
    assert "retrying in" in output
    assert "resuming 'big.bin' from byte" in output


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_docker_health_follows_an_outage_longer_than_the_limit(images: None) -> None:
    """Healthy while the loop retries an unreachable server, unhealthy once no pass has
    succeeded for CSU_UNHEALTHY_AFTER_SECONDS, with a message that says so."""
    name = "csu-health-outage"
    docker("rm", "-f", name)
    started = docker(
        "run",
        "-d",
        "--name",
        name,
        *HEALTH_FLAGS,
        *env_flags(
            CSU_HOST="127.0.0.1",
            CSU_PORT="9",
            CSU_USER="u",
            CSU_PASSWORD="pw",
            CSU_DST="/x",
            CSU_RETRY_GIVE_UP_SECONDS="2",
            CSU_RETRY_MAX_WAIT_SECONDS="1",
            CSU_INTERVAL_SECONDS="5",
            CSU_UNHEALTHY_AFTER_SECONDS="15",
        ),
        IMAGE,
        "run",
    )
    assert started.returncode == 0, started.stderr
    try:
        assert wait_health(name, "healthy", 30) == "healthy", docker("logs", name).stderr[-2000:]
        assert wait_health(name, "unhealthy", 60) == "unhealthy"
        output = last_health_output(name)
        assert output.startswith("unhealthy: no pass succeeded and no work went on for")
        assert "the last pass: " in output
        logs = docker("logs", name).stderr
        assert "retrying in" in logs
        assert "Traceback" not in logs
        stopped = docker("stop", "-t", "10", name)
        assert stopped.returncode == 0
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 0
    finally:
        docker("rm", "-f", name)


def test_docker_health_after_a_refused_pass_and_after_a_good_one(images: None) -> None:
    """Two daemons against the OpenSSH server container: a wrong password makes the
    first unhealthy at its first pass (the message names the refusal); the right key
    makes the second healthy after a pass that uploaded the past days."""
    project = "csu-health"
    compose = ["docker-compose", "-f", "docker-compose.test.yml", "-p", project]

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*compose, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**_env(), **env},
        )

    names = ("csu-health-refused", "csu-health-ok")
    run("down", "-v", "--remove-orphans")
    try:
        assert run("up", "-d", "sshd").returncode == 0
        for _ in range(60):
            if run("exec", "-T", "sshd", "test", "-s", "/keys/known_hosts").returncode == 0:
                break
            time.sleep(0.5)
        generated = run("run", "--rm", "-T", "generate", CSU_AREAS="dirs")
        assert generated.returncode == 0, generated.stderr
        common = [
            *HEALTH_FLAGS,
            "--network",
            f"{project}_default",
            "-v",
            f"{project}_keys:/keys:ro",
            "-v",
            f"{project}_data:/data",
            *env_flags(
                CSU_HOST="sshd",
                CSU_USER="station",
                CSU_KNOWN_HOSTS_FILE="/keys/known_hosts",
                CSU_TIMEZONE="UTC",
                CSU_GRACE_MINUTES="0",
                CSU_QUIET_MINUTES="0",  # generated seconds ago: their change times are now
                CSU_SRC="/data/dirs",
                CSU_INTERVAL_SECONDS="600",
            ),
        ]
        refused = docker(
            "run", "-d", "--name", names[0], *common,
            *env_flags(CSU_PASSWORD="not-the-password", CSU_DST="/srv/upload/station/h1"),
            IMAGE, "run",
        )  # fmt: skip
        good = docker(
            "run", "-d", "--name", names[1], *common,
            *env_flags(CSU_KEY_FILE="/keys/client_ed25519", CSU_DST="/srv/upload/station/h2"),
            IMAGE, "run",
        )  # fmt: skip
        assert refused.returncode == 0, refused.stderr
        assert good.returncode == 0, good.stderr
        status = wait_health(names[0], "unhealthy", 60)
        assert status == "unhealthy", docker("logs", names[0]).stderr[-3000:]
        output = last_health_output(names[0])
        assert output.startswith("unhealthy: the last pass was refused by the server"), output
        assert "not-the-password" not in docker("logs", names[0]).stderr

        status = wait_health(names[1], "healthy", 120)
        assert status == "healthy", docker("logs", names[1]).stderr[-3000:]
        for _ in range(120):  # healthy at once; the pass's outcome follows when it ends
            output = last_health_output(names[1])
            if "last pass: ok" in output:
                break
            time.sleep(0.5)
        assert "last pass: ok" in output, output
        assert "pass finished: ok" in docker("logs", names[1]).stderr
        listing = run("exec", "-T", "sshd", "find", "/srv/upload/station/h2", "-type", "f")
        assert listing.stdout.count("\n") >= 4, listing.stdout
    finally:
        for name in names:
            docker("rm", "-f", name)
        run("down", "-v", "--remove-orphans")


HEALTH_FLAGS = (
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--health-interval",
    "1s",
    "--health-retries",
    "1",
    "--health-start-period",
    "1s",  # 0s would mean the image's 60 s, during which failures do not count
)


def env_flags(**values: str) -> list[str]:
    return [flag for key, value in values.items() for flag in ("-e", f"{key}={value}")]


def wait_health(name: str, wanted: str, seconds: float) -> str:
    status = ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()
        if status == wanted:
            break
        time.sleep(0.5)
    return status


def last_health_output(name: str) -> str:
    [state] = json.loads(docker("inspect", name).stdout)
    log = state["State"]["Health"]["Log"]
    return str(log[-1]["Output"]).strip() if log else ""


def test_the_readme_demo_uploads_the_past_days(images: None) -> None:
    """The README's first command, end to end."""
    result = subprocess.run(
        ["bash", "deploy/demo/run-demo.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "pass finished: ok" in output
    assert "./spectrometer/" in result.stdout
    assert "./weather/" in result.stdout


@pytest.mark.parametrize("platform", list(ARM))
def test_arm_image_uploads_under_emulation(images: None, platform: str) -> None:
    """The Raspberry Pi images: built for the platform, run under qemu against the server."""
    reason = arm_missing(platform)
    if reason is not None:
        pytest.skip(reason)
    result = subprocess.run(
        ["bash", "tests/container/run-arm-test.sh", platform],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert f"uname -m inside: {ARM[platform][2]}" in output
    assert f"image platform: {platform}" in output
    assert "; 0 problems" in output
    assert "pass finished: ok" in output
    for line in output.splitlines():
        if line.startswith(("built circadian-scp-upload:", "verified ")) or "emulation" in line:
            print(line)


def station_folder(tmp_path: Path, **env: str) -> Path:
    """deploy/ copied as an operator copies it, with .env and station.env from the
    examples (``env``: lines of .env replaced)."""
    station = tmp_path / "station"
    shutil.copytree(ROOT / "deploy", station)
    lines = (station / ".env.example").read_text().splitlines()
    for name, value in env.items():
        lines = [f"{name}={value}" if line.startswith(f"{name}=") else line for line in lines]
    (station / ".env").write_text("\n".join(line for line in lines if line) + "\n")
    shutil.copy(station / "station.env.example", station / "station.env")
    return station


def compose_config(station: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        cwd=station,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_station_compose_defaults_keep_what_the_agent_learns(tmp_path: Path) -> None:
    """docker compose config of deploy/ as shipped: the one image tag (the README's build,
    .env.example and the compose default agree on it), a named state volume, and the
    station's name from .env, required."""
    if shutil.which("docker-compose") is None:
        pytest.skip("no docker-compose here (run tests/container/prepare-docker.sh)")
    version = re.findall(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)[0]
    tag = f"circadian-scp-upload:{version}"
    assert f"CSU_IMAGE={tag}\n" in (ROOT / "deploy" / ".env.example").read_text()
    assert f"${{CSU_IMAGE:-{tag}}}" in (ROOT / "deploy" / "docker-compose.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    assert f"docker build -t {tag} ." in readme
    assert not re.search(r"docker build -t circadian-scp-upload \.", readme)
    station = station_folder(tmp_path, CSU_STATION="station-07")
    config = compose_config(station)
    assert config.returncode == 0, config.stderr
    text = config.stdout
    assert f"image: {tag}" in text
    assert "hostname: station-07" in text
    assert "CSU_STATION: station-07" in text
    assert re.search(r"source: state\n\s+target: /state\n", text) or "state:/state" in text, text
    assert "CSU_KEY_FILE: /state/agent/station_key" in text
    assert "CSU_KNOWN_HOSTS_FILE: /state/agent/known_hosts" in text
    assert "latest" not in text
    nameless = station_folder(tmp_path / "nameless")  # .env.example as shipped: no name
    refused = compose_config(nameless)
    assert refused.returncode != 0
    assert "set CSU_STATION in .env" in refused.stderr


def test_the_ten_minute_path_from_a_new_station_to_its_first_verified_day(
    images: None,
) -> None:
    """The build route with Debian's docker-compose 1.29: deploy/ copied from a checkout,
    .env and station.env from the examples, enroll, the kit's add-station, the
    fingerprint, check --write, the daemon's first pass, and a recreated container
    keeping the state (tests/container/run-enroll-test.sh); the documented path itself,
    from a bundle with compose v2, is test_the_documented_paths_walk_as_written."""
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "tests/container/run-enroll-test.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "CSU_SKIP_BUILD": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "public key: ssh-ed25519 " in output
    assert "write check: removed it: nothing left behind" in output
    assert "pass finished: ok" in output
    print(f"the ten-minute path: {time.monotonic() - started:.0f} s")


@pytest.fixture(scope="module", autouse=True)
def instrument_days() -> dict[str, bytes] | None:
    """The instrument of the documented paths wrote its days when this tier started (a
    day is quiet only CSU_QUIET_MINUTES after its files' change times, which no one can
    set back): by the time the walk runs, they are."""
    if docker_missing() is not None or (doc_paths.STATION_DIR / ".env").exists():
        return None
    return doc_paths.make_instrument_data()


def compose_v2_missing() -> str | None:
    found = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if found.returncode != 0:
        return "no compose v2 (tests/container/prepare-docker.sh installs it)"
    return None


def test_the_documented_paths_walk_as_written(
    images: None, instrument_days: dict[str, bytes] | None
) -> None:
    """OPERATOR.md, server-admin.md and monitoring.md: their numbered steps, literally, in
    order: the arm64 station bundle installed on a station (emulated), the kit installed
    on a Debian server from the bundle, the station added, trusted, proven, its first
    pass, and the office's fleet page; the past days on the server byte for byte."""
    reason = arm_missing("linux/arm64") or compose_v2_missing()
    if reason is not None:
        pytest.skip(reason)
    assert instrument_days is not None, "the instrument's days were not made"
    walked, expected = doc_paths.walk(instrument_days)
    assert len(expected) == 6
    for line in walked.log:
        if line.startswith("== step"):
            print(line)
