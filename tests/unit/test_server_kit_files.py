"""The server kit's files (deploy/server/) without a server: they agree with the agent,
the shell scripts parse, and csu-only does what it says when run as sshd would run it."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import os
import re
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from circadian_scp_upload.engine.verify import (
    HASH_COMMAND,
    OPENSSL_HASH_COMMAND,
    SYNC_COMMAND,
    parse_openssl_sums,
)
from circadian_scp_upload.remote.api import OUTPUT_MARK, CommandResult
from circadian_scp_upload.remote.probe import PROBE, STREAM_HASHERS, SYNC_PROBE, probe
from circadian_scp_upload.setup.enroll import SAFE_PATH
from circadian_scp_upload.station.clock import DATE_COMMAND

KIT = Path(__file__).resolve().parents[2] / "deploy" / "server"
CSU_ONLY = KIT / "csu-only"
SCRIPTS = ("add-station", "install.sh")


def constants() -> dict[str, Any]:
    """csu-only's module-level constants, read without running it."""
    found: dict[str, Any] = {}
    for node in ast.parse(CSU_ONLY.read_text()).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    with contextlib.suppress(ValueError):  # not a literal
                        found[target.id] = ast.literal_eval(node.value)
    return found


def csu_only(
    command: str, *args: str, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run csu-only as sshd runs a forced command: the request in SSH_ORIGINAL_COMMAND."""
    env = {k: v for k, v in os.environ.items() if k != "SSH_ORIGINAL_COMMAND"}
    env["SSH_ORIGINAL_COMMAND"] = command
    return subprocess.run(
        [sys.executable, str(CSU_ONLY), *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=30,
    )


def test_csu_only_allows_the_probes_the_agent_sends_with_its_mark() -> None:
    found = constants()
    assert found["PROBE"] == PROBE
    assert found["SYNC_PROBE"] == SYNC_PROBE
    assert found["MARK"] == OUTPUT_MARK
    assert found["MARK_COMMAND"] == f"printf '{OUTPUT_MARK}'; "


def test_the_agent_finds_a_shell_hashing_and_sync_behind_csu_only(tmp_path: Path) -> None:
    """The agent's own probe, run through csu-only as ExecOps.run runs it (the mark
    first, the output after it): hashing on the server, a sync that takes names."""

    def run(command: str) -> CommandResult:
        result = csu_only(f"printf '{OUTPUT_MARK}'; {command}", str(tmp_path), cwd=tmp_path)
        stdout = result.stdout.split(OUTPUT_MARK.encode(), 1)[-1]
        return CommandResult(result.returncode, stdout, result.stderr)

    traits = probe(run, {"fsync@openssh.com", "posix-rename@openssh.com"})
    assert traits.shell, traits.detail
    assert traits.batch_hasher
    assert traits.stream_hasher is not None
    assert traits.folder_sync
    assert "a POSIX shell; verification: SHA-256 on the server" in traits.describe()


def test_csu_only_still_answers_the_probe_that_asked_about_sync_inside_it() -> None:
    older = PROBE + "; sync -- . && echo synced; echo @6"
    result = csu_only(f"printf '{OUTPUT_MARK}'; {older}", "/tmp")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(OUTPUT_MARK.encode())
    assert result.stdout.endswith(b"@5\nsynced\n@6\n")


def test_csu_only_knows_the_agents_command_lines() -> None:
    found = constants()
    assert {" ".join(words) for words in found["STREAM_HASHERS"]} == {
        command for command, _key in STREAM_HASHERS
    }
    for template, name in (
        (HASH_COMMAND, "DAY_HASH"),
        (OPENSSL_HASH_COMMAND, "DAY_HASH_OPENSSL"),
        (SYNC_COMMAND, "SYNC"),
    ):
        lexer = shlex.shlex(template.format(root="'/x y'"), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        assert list(lexer) == ["cd", "--", "/x y", *found[name]]


@pytest.mark.parametrize("name", ["csu-only", *SCRIPTS])
def test_kit_programs_are_executable(name: str) -> None:
    assert (KIT / name).stat().st_mode & stat.S_IXUSR


@pytest.mark.parametrize("name", SCRIPTS)
def test_shell_scripts_parse(name: str) -> None:
    checked = subprocess.run(["bash", "-n", str(KIT / name)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    text = (KIT / name).read_text()
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text
    assert "eval" not in re.sub(r"#.*", "", text)


def test_add_station_recognises_its_accounts_by_the_gecos_it_gives_them() -> None:
    text = (KIT / "add-station").read_text()
    assert 'STATION_GECOS="circadian-scp-upload station"' in text
    assert '--comment "$STATION_GECOS"' in text  # useradd: what it gives the account
    assert '$user_gecos == "$STATION_GECOS"' in text  # what it takes for a station's own


def test_add_station_help_names_adopt_and_the_refusals() -> None:
    shown = subprocess.run(
        ["bash", str(KIT / "add-station"), "--help"], capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0, shown.stderr
    assert "[--adopt]" in shown.stdout
    assert "never root" in shown.stdout
    assert "or a system account" in shown.stdout


def test_sshd_fragment_comments_every_setting() -> None:
    lines = (KIT / "csu-upload.conf").read_text().splitlines()
    settings = [
        i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")
    ]
    assert [lines[i].strip() for i in settings][:2] == [
        "Match Group csu-upload",
        "AuthorizedKeysFile /etc/ssh/authorized_keys/%u",
    ]
    assert all(lines[i - 1].lstrip().startswith("#") for i in settings)
    commented = [line.strip() for line in lines if line.strip().startswith("#")]
    assert "#ChrootDirectory /srv/upload" in commented
    assert "#ForceCommand internal-sftp" in commented


@pytest.mark.parametrize(
    "args",
    [[], ["relative/root"], ["/nonexistent/csu-kit-root"], ["/"], ["/tmp", "/var/tmp"]],
    ids=["none", "relative", "missing", "slash", "two"],
)
@pytest.mark.parametrize("command", ["internal-sftp", PROBE, "cat > /tmp/csu-kit-x"])
def test_csu_only_refuses_everything_without_a_root(args: list[str], command: str) -> None:
    result = csu_only(command, *args)
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.startswith(b"csu-only: ")
    assert b"nothing is allowed" in result.stderr


def test_csu_only_writes_hashes_and_syncs_below_its_root(tmp_path: Path) -> None:
    root = tmp_path / "upload root"
    day = root / "day one"
    (day / "sub").mkdir(parents=True)
    path = day / "it's a file.txt"
    quoted = shlex.quote(str(path))
    mark = f"printf '{OUTPUT_MARK}'; "

    assert csu_only(f"cat > {quoted}", str(root), stdin=b"hello ").returncode == 0
    assert csu_only(f"cat >> {quoted}", str(root), stdin=b"world").returncode == 0
    assert path.read_bytes() == b"hello world"
    digest = hashlib.sha256(b"hello world").hexdigest()

    hashed = csu_only(f"{mark}openssl dgst -sha256 -r < {quoted}", str(root))
    assert hashed.stdout == f"{OUTPUT_MARK}{digest} *stdin\n".encode()
    assert csu_only(f"sha256sum < {quoted}", str(root)).stdout == f"{digest}  -\n".encode()

    (day / "sub" / "b").write_bytes(b"b")
    names = b"it's a file.txt\0sub/b\0"
    batch = csu_only(mark + HASH_COMMAND.format(root=shlex.quote(str(day))), str(root), stdin=names)
    assert batch.returncode == 0, batch.stderr
    expected = f"{digest}  it's a file.txt\0{hashlib.sha256(b'b').hexdigest()}  sub/b\0"
    assert batch.stdout == OUTPUT_MARK.encode() + expected.encode()

    synced = csu_only(
        SYNC_COMMAND.format(root=shlex.quote(str(day))), str(root), stdin=b".\0sub\0sub/b\0"
    )
    assert synced.returncode == 0, synced.stderr
    missing = csu_only(SYNC_COMMAND.format(root=shlex.quote(str(day))), str(root), stdin=b"no\0")
    assert missing.returncode == 1

    # relative paths start in the working folder (sshd's: the account's home)
    assert csu_only("cat > rel.txt", str(root), stdin=b"r", cwd=day).returncode == 0
    assert (day / "rel.txt").read_bytes() == b"r"


def test_csu_only_refuses_other_commands_paths_outside_and_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"kept")
    (root / "link").symlink_to(outside / "victim")
    (root / "folder").symlink_to(outside)
    refusals = {
        "id": b"refused",
        f"cat > {outside / 'x'}": b"is not below",
        f"cat > {root}/../outside/x": b"is not below",
        f"cat > {root / 'link'}": b"is a link: not followed",
        f"cat >> {root / 'folder' / 'victim'}": b"is a link: not followed",
        f"sha256sum < {root / 'link'}": b"is a link: not followed",
        f"cat > {root / 'a'}; id": b"refused",
        f"cat > {root / 'a'} && id": b"refused",
        f"cat > $HOME/{root.name}": b"is not below",
        f"cat {root / 'a'}": b"refused",
        "sh -c id": b"refused",
        PROBE + "; id": b"refused",
        "cat > '/unclosed": b"No closing quotation",
        "": b"refused",
    }
    for command, said in refusals.items():
        result = csu_only(command, str(root), stdin=b"owned")
        assert result.returncode == 1, command
        assert said in result.stderr, (command, result.stderr)
        assert b"uid=" not in result.stdout
    assert (outside / "victim").read_bytes() == b"kept"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert sorted(p.name for p in root.iterdir()) == ["folder", "link"]


def test_csu_only_tells_the_time_for_the_agents_clock_check() -> None:
    assert constants()["DATE_COMMAND"] == DATE_COMMAND
    result = csu_only(f"printf '{OUTPUT_MARK}'; {DATE_COMMAND}", "/tmp")
    assert result.returncode == 0, result.stderr
    said = result.stdout.removeprefix(OUTPUT_MARK.encode()).strip()
    assert abs(int(said) - time.time()) < 5


def test_csu_only_hashes_a_day_in_openssl_form_as_openssl_prints_it(tmp_path: Path) -> None:
    """The agent reads csu-only's answer to the OpenSSL form with the parser it uses for
    OpenSSL itself; a missing name gets no line (and a failing exit), never a digest."""
    day = tmp_path / "day"
    (day / "sub").mkdir(parents=True)
    names = ["-n", "a b", "sub/c*d"]
    for name in names:
        (day / name).write_bytes(name.encode() * 7)
    command = OPENSSL_HASH_COMMAND.format(root=shlex.quote(str(day)))
    stdin = b"".join(b"./" + n.encode() + b"\0" for n in [*names, "missing"])
    result = csu_only(f"printf '{OUTPUT_MARK}'; {command}", str(tmp_path), stdin=stdin)
    assert result.returncode != 0  # the missing file
    said = result.stdout.split(OUTPUT_MARK.encode(), 1)[-1]
    assert parse_openssl_sums(said) == {
        n: hashlib.sha256(n.encode() * 7).hexdigest() for n in names
    }


def test_enroll_and_add_station_accept_the_same_paths() -> None:
    """enroll refuses a destination add-station would refuse in a key line: one rule."""
    from_script = re.search(
        r"^SAFE_PATH='\^(.+)\$'", (KIT / "add-station").read_text(), re.MULTILINE
    )
    assert from_script is not None
    assert SAFE_PATH.pattern == from_script.group(1)
