"""Environment configuration: every problem reported at once, secrets never shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from circadian_scp_upload import ConfigError
from circadian_scp_upload.config.load import (
    COMPOSE_VARIABLES,
    env_reference,
    load_settings,
    unknown_variables,
)
from circadian_scp_upload.remote.credentials import create_private_key

NO_CREDENTIAL = {"CSU_HOST": "server.example", "CSU_USER": "station", "CSU_DST": "/srv/data"}
BASE = NO_CREDENTIAL | {"CSU_PASSWORD": "station-pw"}
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CHANGELOG = ROOT / "CHANGELOG.md"
DOCS = ROOT / "docs"
DEPLOY = ROOT / "deploy"
CONFIGURATION = DOCS / "configuration.md"
# Variables of the test harness, named in docs/testing.md (never read by the agent).
TEST_VARIABLES = {"CSU_SOAK", "CSU_REBUILD_BASES", "CSU_SKIP_ARM", "CSU_SKIP_BUILD"}
WARNING_EXAMPLES = {"CSU_REMOVE_AFTER_UPLAOD", "CSU_TIME_ZONE"}  # misspelt on purpose


def test_minimal_single_job(key_file: Path) -> None:
    settings = load_settings({**BASE, "CSU_KEY_FILE": str(key_file)})
    [job] = settings.job_list()
    assert (job.src, job.dst, job.variant, job.remove_after_upload) == (
        Path("/data"),
        "/srv/data",
        "directories",
        False,
    )
    assert settings.port == 22
    assert settings.interval_seconds == 600
    assert settings.grace_minutes == 60
    assert (settings.log_level, settings.log_format) == ("INFO", "text")


def test_every_problem_is_listed_together() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(
            {
                "CSU_PORT": "abc",
                "CSU_VARIANT": "folders",
                "CSU_DATED_REGEX": "^%Y%d$",
                "CSU_TIMEZONE": "Mars/Base",
                "CSU_LOG_FORMAT": "xml",
                "CSU_INTERVAL_SECONDS": "0",
            }
        )
    message = str(raised.value)
    for expected in (
        "CSU_HOST: missing",
        "CSU_USER: missing",
        "CSU_DST: missing",
        "CSU_PORT:",
        "CSU_VARIANT:",
        "CSU_DATED_REGEX:",
        "(month) is missing",
        "CSU_TIMEZONE:",
        "CSU_LOG_FORMAT:",
        "CSU_INTERVAL_SECONDS:",
    ):
        assert expected in message


def test_secrets_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(
            {
                **BASE,
                "CSU_PASSWORD": "",
                "CSU_PRIVATE_KEY": "s3cr3t-key-text",
                "CSU_KEY_FILE": "/k",
                "CSU_PORT": "x",
            }
        )
    assert "s3cr3t" not in str(raised.value)
    settings = load_settings({**BASE, "CSU_PASSWORD": "hunter2-pw"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_secret_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file-pw\n")  # as `echo from-file-pw > pw` writes it
    settings = load_settings({**NO_CREDENTIAL, "CSU_PASSWORD_FILE": str(tmp_path / "pw")})
    assert settings.password is not None
    assert settings.password.get_secret_value() == "from-file-pw"
    with pytest.raises(ConfigError, match="CSU_PASSWORD_FILE: cannot read"):
        load_settings({**NO_CREDENTIAL, "CSU_PASSWORD_FILE": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match="not both"):
        load_settings({**BASE, "CSU_PASSWORD": "a", "CSU_PASSWORD_FILE": str(tmp_path / "pw")})


def test_docker_secrets_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "csu_password").write_text("docker-secret-pw")
    monkeypatch.setattr("circadian_scp_upload.config.settings.SECRETS_DIR", tmp_path)
    settings = load_settings(NO_CREDENTIAL)
    assert settings.password is not None
    assert settings.password.get_secret_value() == "docker-secret-pw"


def test_several_jobs_as_json() -> None:
    jobs = (
        '[{"src": "/data/a", "dst": "/srv/a", "variant": "files", '
        '"dated_regex": "^%Y%m%d.*$", "remove_after_upload": true},'
        ' {"name": "b", "src": "/data/b", "dst": "/srv/b"}]'
    )
    env = {k: v for k, v in BASE.items() if k != "CSU_DST"} | {"CSU_JOBS": jobs}
    env["CSU_TIMEZONE"] = "Europe/Berlin"  # removal needs a zone that was said
    first, second = load_settings(env).job_list()
    assert (first.variant, first.remove_after_upload, first.label) == ("files", True, "/data/a")
    assert (second.variant, second.label) == ("directories", "b")


def test_bad_jobs_name_the_job_and_key() -> None:
    env = {k: v for k, v in BASE.items() if k != "CSU_DST"}
    with pytest.raises(ConfigError) as raised:
        load_settings(env | {"CSU_JOBS": '[{"dst": "/a", "variant": "x"}, {"src": "/b"}]'})
    assert "CSU_JOBS[0].variant" in str(raised.value)
    assert "CSU_JOBS[1].dst: missing" in str(raised.value)
    with pytest.raises(ConfigError, match="CSU_JOBS: not valid JSON"):
        load_settings(env | {"CSU_JOBS": "[{"})
    with pytest.raises(ConfigError, match="not both"):
        load_settings(BASE | {"CSU_JOBS": '[{"dst": "/a"}]'})


def test_the_env_table_in_the_docs_matches_the_declarations() -> None:
    table = env_reference()
    assert table in CONFIGURATION.read_text(), (
        "regenerate docs/configuration.md's table with: python -m circadian_scp_upload "
        "env-reference"
    )


def test_every_variable_the_docs_name_is_one_the_agent_knows() -> None:
    """docs/, the README, the changelog and deploy/ (station.env.example, OPERATOR.md,
    .env.example, the compose file): a renamed or misspelt variable fails here."""
    declared = set(re.findall(r"`(CSU_[A-Z_]+)`", env_reference()))
    known = declared | COMPOSE_VARIABLES
    for path in [README, CHANGELOG, *sorted(DOCS.glob("*.md")), *sorted(DEPLOY.iterdir())]:
        if not path.is_file():
            continue
        named = set(re.findall(r"\b(CSU_[A-Z_]+[A-Z])\b", path.read_text()))
        unknown = named - known - TEST_VARIABLES - WARNING_EXAMPLES
        assert not unknown, f"{path.name} names {sorted(unknown)}, which the agent does not know"


def test_connection_options_are_checked_at_load_and_listed_together(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage_key"
    garbage.write_text("not a key")
    with pytest.raises(ConfigError) as raised:
        load_settings(
            {
                **BASE,
                "CSU_KEY_FILE": str(tmp_path / "missing_key"),
                "CSU_HOST_KEY_FINGERPRINT": "SHA256:short",
                "CSU_KNOWN_HOSTS": "server ssh-ed25519 !!!",
            }
        )
    message = str(raised.value)
    assert "CSU_KEY_FILE: cannot read the private key file" in message
    assert "CSU_HOST_KEY_FINGERPRINT: host key fingerprint 'SHA256:short'" in message
    assert "CSU_KNOWN_HOSTS: the known_hosts text, line 1" in message
    with pytest.raises(ConfigError, match="CSU_KEY_FILE: the private key in"):
        load_settings({**BASE, "CSU_KEY_FILE": str(garbage)})


def test_the_connection_is_built_once_at_load(key_file: Path) -> None:
    settings = load_settings({**BASE, "CSU_KEY_FILE": str(key_file), "CSU_PORT": "2222"})
    assert settings.connection is settings.connection
    assert settings.connection.where == "server.example:2222"


def test_a_bad_known_hosts_file_and_a_blank_job_folder_are_found_at_load(
    tmp_path: Path,
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("server ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n")  # truncated key
    env = {k: v for k, v in BASE.items() if k != "CSU_DST"}
    with pytest.raises(ConfigError) as raised:
        load_settings(
            env
            | {
                "CSU_PASSWORD": "pw",
                "CSU_KNOWN_HOSTS_FILE": str(known),
                "CSU_JOBS": '[{"src": "/tmp", "dst": "  "}, {"src": "/tmp", "dst": "/ok"}]',
            }
        )
    message = str(raised.value)
    assert "CSU_JOBS[0].dst: the remote folder" in message
    with pytest.raises(ConfigError, match="CSU_KNOWN_HOSTS_FILE: the known_hosts file"):
        load_settings({**BASE, "CSU_PASSWORD": "pw", "CSU_KNOWN_HOSTS_FILE": str(known)})


def test_no_credential_at_all_is_a_configuration_error(tmp_path: Path) -> None:
    state = {"CSU_STATE_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="no credential: run `enroll`"):
        load_settings(NO_CREDENTIAL | state)
    assert load_settings(NO_CREDENTIAL | state | {"SSH_AUTH_SOCK": "/a.sock"}).password is None
    enrolling = load_settings(NO_CREDENTIAL | state, connection=False, enrolling=True)
    assert enrolling.key_file is None  # enroll makes it


def test_what_enroll_made_in_the_state_folder_is_used_where_nothing_else_is_set(
    tmp_path: Path,
) -> None:
    """After `enroll` on the state volume, CSU_HOST, CSU_USER and CSU_DST suffice."""
    create_private_key(tmp_path / "station_key")
    (tmp_path / "known_hosts").write_text("")
    settings = load_settings(NO_CREDENTIAL | {"CSU_STATE_DIR": str(tmp_path)}, connection=False)
    assert settings.key_file == tmp_path / "station_key"
    assert settings.known_hosts_file == tmp_path / "known_hosts"
    given = tmp_path / "elsewhere"
    explicit = load_settings(
        NO_CREDENTIAL | {"CSU_STATE_DIR": str(tmp_path), "CSU_KNOWN_HOSTS_FILE": str(given)},
        connection=False,
    )
    assert explicit.known_hosts_file == given  # what is configured wins


def test_misspelt_variables_are_named_with_the_closest_known_one() -> None:
    warnings = unknown_variables(
        BASE | {"CSU_REMOVE_AFTER_UPLAOD": "true", "CSU_TIME_ZONE": "UTC", "HOME": "/root"}
    )
    assert warnings == [
        "CSU_REMOVE_AFTER_UPLAOD is not a variable this agent knows: it is ignored; "
        "did you mean CSU_REMOVE_AFTER_UPLOAD?",
        "CSU_TIME_ZONE is not a variable this agent knows: it is ignored; "
        "did you mean CSU_TIMEZONE?",
    ]


def test_a_window_that_stays_shut_is_refused_at_start_unless_allowed() -> None:
    """The sun never climbs above 80 degrees at 78 N: a window that cannot open in the
    next week is a configuration error, said with the way out."""
    shut = BASE | {
        "CSU_UPLOAD_WINDOW": "day&sun>80",
        "CSU_LATITUDE": "78.2",
        "CSU_LONGITUDE": "15.6",
        "CSU_TIMEZONE": "UTC",
    }
    with pytest.raises(ConfigError, match=r"stays closed for the next week at 78\.2, 15\.6"):
        load_settings(shut, connection=False)
    assert load_settings(shut | {"CSU_WINDOW_MAY_STAY_CLOSED": "true"}, connection=False)
    with pytest.raises(ConfigError, match="CSU_LATITUDE and CSU_LONGITUDE"):
        load_settings(BASE | {"CSU_UPLOAD_WINDOW": "night"}, connection=False)


def test_removal_needs_a_time_zone_that_was_said() -> None:
    """Without one, days end at midnight UTC: a station at UTC-8 would lose the folder it
    still writes. Removal on and no zone is refused at start (exit 2); UTC said counts,
    in CSU_TIMEZONE or TZ; without removal the agent only warns (at start of a pass)."""
    removing = BASE | {"CSU_REMOVE_AFTER_UPLOAD": "true"}
    no_zone = Path("/nonexistent/localtime")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("circadian_scp_upload.source.readiness.LOCALTIME", no_zone)
        with pytest.raises(ConfigError, match="CSU_TIMEZONE: local files are removed after"):
            load_settings(removing, connection=False)
        assert load_settings(removing | {"CSU_TIMEZONE": "UTC"}, connection=False)
        assert load_settings(removing | {"TZ": "UTC"}, connection=False)
        assert load_settings(removing | {"CSU_TIMEZONE": "America/Los_Angeles"}, connection=False)
        assert load_settings(BASE, connection=False).zone.defaulted


def test_fleet_remote_needs_only_the_connection() -> None:
    """`fleet --remote` reads the reports over SSH: no job, no destination, no time zone
    is asked for; the connection's own settings still are."""
    settings = load_settings(
        {"CSU_HOST": "server.example", "CSU_USER": "office", "CSU_PASSWORD": "pw"},
        reading=True,
    )
    assert settings.host == "server.example"
    with pytest.raises(ConfigError, match="CSU_HOST"):
        load_settings({"CSU_USER": "office", "CSU_PASSWORD": "pw"}, reading=True)
    with pytest.raises(ConfigError, match="CSU_DST"):
        load_settings({"CSU_HOST": "server.example", "CSU_USER": "o", "CSU_PASSWORD": "pw"})
