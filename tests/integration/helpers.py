"""Helpers for the integration tests: data builders and a client factory."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from circadian_scp_upload import DailyTransferClient, RemoteConnection, UploadClientCallbacks
from circadian_scp_upload.engine.transfer import PARTIAL_FOLDER, partial_folder, partial_path
from circadian_scp_upload.source.days import Variant
from tests.conftest import fixed_clock, tree, write_file
from tests.sshd_server import SSHServer

NOW = datetime.datetime(2024, 9, 20, 12, 0)  # local time: the 17th-19th are past
PAST = ["20240917", "20240918", "20240919"]
TODAY = "20240920"
FUTURE = "20240921"
HOSTILE_NAMES = [
    "with space.txt",
    "quote'single.txt",
    'quote"double.txt',
    "$(touch pwned).txt",
    "`touch pwned2`.txt",
    "semi;colon && rm -rf x.txt",
    "-leading-dash.txt",
    "--also-dash",
    "ünïcødé-日本.txt",
    "back\\slash.txt",
    "new\nline.txt",
    "tab\there.txt",
    "*glob?[x].txt",
    ".hidden",
]


class Recorder:
    """Collects what the callbacks receive."""

    def __init__(self) -> None:
        self.info: list[str] = []
        self.errors: list[str] = []

    def callbacks(
        self, dated_regex: str = r"^%Y%m%d$", abort: Callable[[], bool] = lambda: False
    ) -> UploadClientCallbacks:
        return UploadClientCallbacks(
            dated_regex=dated_regex,
            log_info=self.info.append,
            log_error=self.errors.append,
            should_abort_upload=abort,
        )


def make_day_dirs(src: Path, days: list[str], files_per_day: int = 3) -> None:
    """Create dated day folders with files and a subfolder each."""
    for day in days:
        for index in range(files_per_day):
            write_file(src / day / f"file{index}.txt", f"{day}-{index}\n".encode() * 50)
        write_file(src / day / "sub" / "deeper" / "data.bin", day.encode() * 1000)


def client(
    connection: RemoteConnection,
    src: Path,
    dst: Path | str,
    remove: bool,
    recorder: Recorder,
    variant: Variant = "directories",
    dated_regex: str = r"^%Y%m%d$",
    abort: Callable[[], bool] = lambda: False,
    **options: Any,
) -> DailyTransferClient:
    options.setdefault("clock", fixed_clock(NOW))
    return DailyTransferClient(
        remote_connection=connection,
        src_path=str(src),
        dst_path=str(dst),
        remove_files_after_upload=remove,
        variant=variant,
        callbacks=recorder.callbacks(dated_regex, abort),
        **options,
    )


def leftovers(root: Path) -> list[str]:
    """Return markers and the agent's temporary files anywhere below ``root``."""
    return [
        p
        for p in tree(root)
        if p.split("/")[-1] == ".do-not-touch" or f"/{PARTIAL_FOLDER}/" in f"/{p}"
    ]


def partial_of(dst: Path | str, final: Path | str) -> Path:
    """Return where the agent writes ``final`` (a path below the destination ``dst``)
    before its rename: ``<dst>/.csu/partial/<hash>.csu-partial``."""
    return Path(partial_path(str(final), partial_folder(str(dst))))


ROOT = Path(__file__).resolve().parents[2]


def utc_today() -> datetime.date:
    """Today in UTC, read when asked: a suite that runs across midnight moves with it (the
    root conftest keeps a test from starting in the last minutes before midnight)."""
    return datetime.datetime.now(datetime.timezone.utc).date()


def day(offset: int) -> str:
    return (utc_today() + datetime.timedelta(days=offset)).strftime("%Y%m%d")


def agent_env(
    server: SSHServer, src: Path, dst: Path, port: int | None = None, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSU_")}
    env.update(
        {
            "CSU_HOST": "127.0.0.1",
            "CSU_PORT": str(port or server.port),
            "CSU_USER": server.user,
            "CSU_KEY_FILE": str(server.key_file),
            "CSU_KNOWN_HOSTS_FILE": str(server.known_hosts),
            "CSU_SRC": str(src),
            "CSU_DST": str(dst),
            "CSU_TIMEZONE": "UTC",
            "CSU_STATE_DIR": str(src.parent / "state"),
            "CSU_RETRY_MAX_WAIT_SECONDS": "1",
            "CSU_IO_TIMEOUT": "5",
            "CSU_KEEPALIVE_SECONDS": "1",
            "CSU_CONNECT_TIMEOUT": "5",
            # the station report lands in the destination: off where tests compare the
            # destination's tree (tests/integration/test_fleet_view.py turns it on)
            "CSU_REPORT": "false",
            # the tests write a day and upload it at once (test_measuring_station.py tests
            # the quiet period itself)
            "CSU_QUIET_MINUTES": "0",
        }
    )
    env.update(extra)
    return env


SECRET_VARIABLES = ("CSU_PASSWORD", "CSU_PRIVATE_KEY", "CSU_KEY_PASSPHRASE", "CSU_KNOWN_HOSTS")
SECRET_FILE_VARIABLES = ("CSU_KEY_FILE", "CSU_PRIVATE_KEY_FILE", "CSU_PASSWORD_FILE")
SECRETS_CHECKED = {"lines": 0}


def secrets_of(env: dict[str, str]) -> list[str]:
    """Return every secret an agent run with ``env`` knows: values, and key file lines."""
    texts = [env[name] for name in SECRET_VARIABLES if env.get(name)]
    for name in SECRET_FILE_VARIABLES:
        path = Path(env.get(name) or "/nonexistent")
        if path.is_file():
            texts.append(path.read_text(errors="replace"))
    found = []
    for text in texts:
        found += [line.strip() for line in text.splitlines() if len(line.strip()) >= 12]
        if len(text.strip()) >= 6 and "\n" not in text.strip():
            found.append(text.strip())
    return [s for s in found if not s.startswith("-----") and not s.startswith("[127.0.0.1]")]


def assert_no_secret(output: str, env: dict[str, str]) -> None:
    """Fail if any line of an agent's output shows a secret it was given."""
    secrets = secrets_of(env)
    for line in output.splitlines():
        SECRETS_CHECKED["lines"] += 1
        for secret in secrets:
            assert secret not in line, f"a secret was logged: {line[:200]!r}"


# Root without the capabilities that let it read and write any file: the agent then
# meets permissions as an ordinary user would (its interpreter stays readable to it).
WITHOUT_DAC_OVERRIDE = [
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
]


def agent(
    command: str,
    env: dict[str, str],
    timeout: float = 120,
    prefix: list[str] | None = None,
    args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the agent's CLI (``command`` and its ``args``); every line it prints is checked
    for the secrets it was given."""
    result = subprocess.run(
        [*(prefix or []), sys.executable, "-m", "circadian_scp_upload", command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert_no_secret(result.stdout + result.stderr, env)
    return result


class Agent(subprocess.Popen[str]):
    """A background agent whose output is checked for secrets when it is read."""

    env: dict[str, str]

    def communicate(
        self, input: str | None = None, timeout: float | None = None
    ) -> tuple[str, str]:
        stdout, stderr = super().communicate(input, timeout)
        assert_no_secret((stdout or "") + (stderr or ""), self.env)
        return stdout, stderr


def start_agent(command: str, env: dict[str, str], quiet: bool = False) -> Agent:
    """Start the agent's CLI in the background (its stderr piped unless ``quiet``)."""
    process = Agent(
        [sys.executable, "-m", "circadian_scp_upload", command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
        text=True,
    )
    process.env = env
    return process


def known_hosts_for(server: SSHServer, port: int, tmp_path: Path) -> Path:
    """known_hosts naming the proxy's port with the server's key."""
    line = server.known_hosts.read_text().split(" ", 1)[1]
    path = tmp_path / "known_hosts_proxy"
    path.write_text(f"[127.0.0.1]:{port} {line}")
    return path


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def status_of(env: dict[str, str]) -> dict[str, object]:
    """The agent's ``status --json`` for this configuration."""
    result = subprocess.run(
        [sys.executable, "-m", "circadian_scp_upload", "status", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, object] = json.loads(result.stdout)
    return found
