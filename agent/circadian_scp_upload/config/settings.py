"""The agent's configuration: environment variables only, prefix ``CSU_``, declared once.

Every variable is declared here with its default and a description; the reference
table of docs/configuration.md is generated from these declarations (``python -m
circadian_scp_upload env-reference``) and a test keeps the two equal. The job fields
(``src``, ``dst``, ``variant``, ``dated_regex``, ``remove_after_upload``) are declared
once, in ``JobFields``, for the single job of ``CSU_SRC``/``CSU_DST`` and for every
object of ``CSU_JOBS`` alike.

Secrets (``CSU_PASSWORD``, ``CSU_PRIVATE_KEY``, ``CSU_KEY_PASSPHRASE``, ``CSU_KNOWN_HOSTS``)
can also come from a file named by ``<NAME>_FILE`` (the convention of official images) or
from Docker/compose secrets in ``/run/secrets`` (file named like the variable, e.g.
``/run/secrets/csu_password``). They are ``SecretStr``: never printed, never logged.

``load_settings`` validates everything at once, the connection options included (key
files are read and parsed, fingerprints and known_hosts lines checked), and raises one
``ConfigError`` that lists every bad or missing variable with what it expects.
``build_connection`` turns the settings into the transport's options (``RemoteConnection``)
and ``accepted_keys_file`` says where host keys accepted on first use are recorded.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ..engine import DEFAULT_DATED_REGEX
from ..errors import ConfigError, PatternError
from ..remote import RemoteConnection
from ..remote.paths import normalize_remote
from ..source.patterns import DatedPattern
from ..source.readiness import StationZone, named_zone, station_zone
from .pingurl import check_ping_url
from .schedule import BandwidthSchedule, Place, UploadWindow

ENV_PREFIX = "CSU_"
SECRET_NAMES = ("PASSWORD", "PRIVATE_KEY", "KEY_PASSPHRASE", "KNOWN_HOSTS", "PING_URL")
# CSU_KNOWN_HOSTS_FILE is the known_hosts path itself, which is what the *_FILE
# convention would mean for CSU_KNOWN_HOSTS anyway: it is used as a path, not read in.
FILE_SECRET_NAMES = ("PASSWORD", "PRIVATE_KEY", "KEY_PASSPHRASE")
SECRETS_DIR = Path("/run/secrets")
# what `enroll` makes in the state folder, used where nothing else is configured
STATION_KEY = "station_key"
STATION_KNOWN_HOSTS = "known_hosts"
# RemoteConnection's options, by the variable that sets each (for messages).
CONNECTION_OPTION_VARIABLES = {
    "host": "CSU_HOST",
    "username": "CSU_USER",
    "key_filename": "CSU_KEY_FILE",
    "private_key": "CSU_PRIVATE_KEY",
    "host_key_fingerprint": "CSU_HOST_KEY_FINGERPRINT",
    "known_hosts": "CSU_KNOWN_HOSTS",
    "known_hosts_file": "CSU_KNOWN_HOSTS_FILE",
}


def _checked(parse: Callable[[str], object], value: str) -> None:
    """Run a parser for a validator: its ConfigError becomes pydantic's ValueError."""
    try:
        parse(value)
    except ConfigError as error:
        raise ValueError(str(error).split(": ", 1)[-1]) from None


def _check_pattern(value: str) -> str:
    try:
        DatedPattern(value)
    except PatternError as error:
        raise ValueError(str(error)) from None
    return value


class JobFields(BaseModel):
    """What one source folder needs: where from, where to, which layout and pattern."""

    src: Path = Field(Path("/data"), description="local folder with the dated data")
    dst: str | None = Field(None, description="remote folder on the server")
    variant: Literal["directories", "files"] = Field(
        "directories", description="layout: `directories` (a folder per day) or `files`"
    )
    dated_regex: str = Field(
        DEFAULT_DATED_REGEX, description="dated-name pattern (%Y %y %m %d in a regex)"
    )
    remove_after_upload: bool = Field(
        False, description="remove local files once their server copy is verified"
    )
    checksum: bool = Field(
        False,
        description="compare every file by checksum on every pass (rsync -c; for audits) "
        "instead of by size and modification time",
    )
    manifest: bool = Field(
        False, description="keep a `SHA256SUMS` of each verified day on the server"
    )
    max_age_days: int | None = Field(
        None, ge=1, description="leave days older than this many days alone (unset: every day)"
    )
    keep_replaced: bool = Field(
        True,
        description="keep every server copy that a changed local file replaces, under "
        "`<dst>/.csu-replaced/<time>/` (false: overwrite it)",
    )
    enabled: bool = Field(
        True,
        description="false: keep the configuration but upload nothing and connect to "
        "nothing (every job; in `CSU_JOBS` per job too)",
    )

    _pattern = field_validator("dated_regex")(_check_pattern)

    @field_validator("dst")
    @classmethod
    def _remote_folder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            normalize_remote(value)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return value


class Job(JobFields):
    """One source folder uploaded to one remote folder (an object of ``CSU_JOBS``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", description="label in log lines (default: the source folder)")
    dst: str = Field(..., min_length=1, description="remote folder on the server")

    @property
    def label(self) -> str:
        """Return the job's name for log lines."""
        return self.name or str(self.src)


class AgentSettings(BaseSettings, JobFields):
    """Every ``CSU_`` environment variable the agent reads."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore", validate_default=True
    )
    _connection: RemoteConnection | None = PrivateAttr(None)
    _zone: StationZone | None = PrivateAttr(None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values come only from ``load_settings`` (which reads the environment given to it)."""
        return (init_settings,)

    jobs: list[Job] | None = Field(
        None,
        description="several jobs instead: a JSON list of objects with the keys src, dst, "
        "variant, dated_regex, remove_after_upload, checksum, manifest, max_age_days, "
        "keep_replaced, enabled (as above) and an optional name",
    )
    host: str = Field(..., min_length=1, description="SSH server name or address")
    port: int = Field(22, ge=1, le=65535, description="SSH server port")
    user: str = Field(..., min_length=1, description="login name on the server")
    password: SecretStr | None = Field(None, description="password login (secret)")
    key_file: Path | None = Field(None, description="path of the private key file")
    private_key: SecretStr | None = Field(None, description="private key text (secret)")
    key_passphrase: SecretStr | None = Field(None, description="passphrase of the key (secret)")
    known_hosts_file: Path | None = Field(
        None,
        description="known_hosts file to verify the server against (default ~/.ssh/known_hosts)",
    )
    known_hosts: SecretStr | None = Field(
        None,
        description="known_hosts content instead of a file (secret; "
        "or a secret `/run/secrets/csu_known_hosts`)",
    )
    host_key_fingerprint: str | None = Field(
        None, description="pinned server key `SHA256:...` instead of known_hosts"
    )
    accept_new_host_key: bool = Field(
        False, description="trust an unknown server key on first use and record it (opt-in)"
    )
    interval_seconds: int = Field(600, ge=1, description="seconds between passes (`run`)")
    grace_minutes: int = Field(
        60, ge=0, description="minutes after midnight before a day is uploaded"
    )
    timezone: str = Field(
        "local",
        description="station time zone, an IANA name (`local`: `TZ`, else a mounted "
        "`/etc/localtime`, else UTC with a warning; with removal on, a zone must be "
        "given: UTC said counts, an image's own UTC does not)",
    )
    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"] = Field(
        "INFO", description="least important level logged"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`text` or `json` (one object a line)"
    )
    connect_timeout: float = Field(20.0, gt=0, description="seconds to connect and log in")
    io_timeout: float = Field(
        60.0, gt=0, description="seconds without an answer before a link counts as dead"
    )
    keepalive_seconds: float = Field(15.0, gt=0, description="SSH and TCP keepalive interval")
    retry_initial_wait_seconds: float = Field(
        1.0,
        gt=0,
        description="first wait before retrying a link fault (doubles after each attempt "
        "that moved no data; starts again after one that did)",
    )
    retry_max_wait_seconds: float = Field(
        300.0, gt=0, description="cap of the exponential backoff between retries"
    )
    retry_give_up_seconds: float = Field(
        1800.0,
        gt=0,
        description="stop retrying after this long without any data moving; the next pass "
        "tries again",
    )
    progress_seconds: float = Field(30.0, gt=0, description="seconds between progress lines")
    channels: int = Field(
        0,
        ge=0,
        le=8,
        description="SFTP channels to upload in parallel (0: by the link: 4 where a round "
        "trip takes 10 ms or more, else 2 for small files and 1 for large ones)",
    )
    bandwidth_limit_kib: int = Field(
        0, ge=0, description="upload speed limit in KiB/s over every byte sent (0: unlimited)"
    )
    station: str = Field(
        "", description="this station's name in JSON logs, pings and metrics (default: host name)"
    )
    ping_url: SecretStr | None = Field(
        None,
        description="healthchecks-style push URL: `/start`, success, `/fail` with the log "
        "(a URL with `{status}`, Uptime Kuma: `up`/`down`) (secret)",
    )
    report: bool = Field(
        True,
        description="after each pass, write this station's report (its status, versions, "
        "time zone) to the server it uploads to, for `fleet` (false: off)",
    )
    report_dir: str | None = Field(
        None,
        description="remote folder of the station reports (default: `.csu/stations` in the "
        "destination, the common folder of every job's destination)",
    )
    metrics_file: Path | None = Field(
        None, description="Prometheus textfile for node_exporter, written after each pass"
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="serve the metrics on this port at /metrics (0: off)"
    )
    unhealthy_after_seconds: float = Field(
        3600.0,
        gt=0,
        description="unhealthy when no pass succeeded (and no work went on) for this long",
    )
    latitude: float | None = Field(
        None, ge=-90, le=90, description="the station's latitude, degrees north (for `night`)"
    )
    longitude: float | None = Field(
        None, ge=-180, le=180, description="the station's longitude, degrees east (for `night`)"
    )
    upload_window: str | None = Field(
        None,
        description="upload only then: station time (`22:00-06:00`), the sun at CSU_LATITUDE/"
        "CSU_LONGITUDE (`night`, `day`, `sun<-6`), several with commas, all of `a&b`; a pass "
        "stops at the next file when it closes",
    )
    window_may_stay_closed: bool = Field(
        False,
        description="start even where CSU_UPLOAD_WINDOW stays closed for the next week "
        "(`night` in a polar summer); else that is a configuration error",
    )
    max_clock_offset_seconds: float = Field(
        300.0,
        gt=0,
        description="warn when the station's clock and the server's differ by more than this; "
        "days are judged over only by the earlier of the two clocks",
    )
    quiet_minutes: float = Field(
        5.0,
        ge=0,
        le=1440,
        allow_inf_nan=False,
        description="a day whose newest file changed this recently is not finished, whatever "
        "the clock says (0: off)",
    )
    pause_file: Path | None = Field(
        None,
        description="while this file exists (the instrument's software makes it while it "
        "measures) no pass starts and a running one stops at the next file",
    )
    pause_max_seconds: float = Field(
        86400.0,
        gt=0,
        allow_inf_nan=False,
        description="a pause file there for longer than this (since the agent first saw it) "
        "is stale: warned about once, and uploads go on",
    )
    bandwidth_schedule: str | None = Field(
        None,
        description='rclone-style timetable instead of a fixed limit (`"08:00,512k 19:00,off"`)',
    )
    start_jitter_seconds: float = Field(
        0.0, ge=0, description="wait a random 0..N s before each pass (fleets spread out)"
    )
    compression: bool = Field(
        False, description="SSH zlib compression (pays for text data on slow links)"
    )
    state_dir: Path = Field(
        default_factory=lambda: default_state_dir(os.environ),
        description="private folder for health, status, counters, verified days, the key and "
        "known_hosts made by `enroll` and host keys accepted on first use (the image: "
        "`/state/agent`, in its volume `/state`)",
    )

    @field_validator("jobs", mode="before")
    @classmethod
    def _jobs_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"not valid JSON ({error.msg} at character {error.pos})") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_name(cls, value: str) -> str:
        if value.strip().lower() not in ("", "local"):
            try:
                named_zone(value, "CSU_TIMEZONE")
            except ConfigError as error:
                raise ValueError(str(error).removeprefix("CSU_TIMEZONE: ")) from None
        return value

    @field_validator("ping_url")
    @classmethod
    def _ping(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_ping_url(value.get_secret_value())
        return value

    @field_validator("upload_window")
    @classmethod
    def _window(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            place = place_of(info.data.get("latitude"), info.data.get("longitude"))
            _checked(lambda text: UploadWindow.parse(text, place), value)
        return value

    @property
    def place(self) -> Place | None:
        """The station's place, where both CSU_LATITUDE and CSU_LONGITUDE are given."""
        return place_of(self.latitude, self.longitude)

    @field_validator("bandwidth_schedule")
    @classmethod
    def _timetable(cls, value: str | None) -> str | None:
        if value is not None:
            _checked(BandwidthSchedule.parse, value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def grace_period(self) -> datetime.timedelta:
        """Return the grace period as a timedelta."""
        return datetime.timedelta(minutes=self.grace_minutes)

    @property
    def zone(self) -> StationZone:
        """The station's time zone and where it came from (resolved at load)."""
        if self._zone is None:
            self._zone = station_zone(self.timezone)
        return self._zone

    def resolve(
        self, zone: StationZone | None = None, connection: RemoteConnection | None = None
    ) -> None:
        """Keep what loading found from these settings: the station's zone (read with
        the environment loaded) and the connection (built and checked)."""
        if zone is not None:
            self._zone = zone
        if connection is not None:
            self._connection = connection

    @property
    def connection(self) -> RemoteConnection:
        """Return the (not yet connected) connection, built and checked at load
        (``config.load_settings``)."""
        if self._connection is None:  # loaded without it (healthcheck, status): built now
            self._connection = build_connection(self)
        return self._connection

    def job_list(self) -> list[Job]:
        """Return the jobs: ``CSU_JOBS`` if given, else the one job of ``CSU_SRC``/``CSU_DST``."""
        if self.jobs:
            return self.jobs
        fields = {name: getattr(self, name) for name in JobFields.model_fields}
        return [Job(**fields)]


def place_of(latitude: float | None, longitude: float | None) -> Place | None:
    """Return the station's place when both coordinates are given."""
    if latitude is None or longitude is None:
        return None
    return Place(latitude, longitude)


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """Outside the image (which sets ``/state/agent``), the XDG state folder of the user:
    ``$XDG_STATE_HOME/circadian-scp-upload``, else ``~/.local/state/circadian-scp-upload``,
    kept across reboots (``/tmp`` is not)."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "circadian-scp-upload"


def secret(value: SecretStr | None) -> str | None:
    """Return a secret's text, or None."""
    return value.get_secret_value() if value is not None else None


def build_connection(settings: AgentSettings) -> RemoteConnection:
    """Return the connection the settings describe; raise ConfigError for bad options."""
    return RemoteConnection(
        settings.host,
        settings.user,
        secret(settings.password),
        port=settings.port,
        key_filename=settings.key_file,
        private_key=secret(settings.private_key),
        passphrase=secret(settings.key_passphrase),
        allow_agent=True,
        known_hosts_file=settings.known_hosts_file,
        known_hosts=secret(settings.known_hosts),
        host_key_fingerprint=settings.host_key_fingerprint,
        accept_new_host_key=settings.accept_new_host_key,
        accepted_host_keys_file=accepted_keys_file(settings),
        connect_timeout=settings.connect_timeout,
        io_timeout=settings.io_timeout,
        keepalive_seconds=settings.keepalive_seconds,
        compress=settings.compression,
    )


def accepted_keys_file(settings: AgentSettings) -> Path | None:
    """Return where host keys accepted on first use are recorded: the known_hosts file
    where the agent may write it, else the private state folder (a read-only root, a
    ``:ro`` mount, or known_hosts given as text)."""
    if not settings.accept_new_host_key:
        return None
    given = settings.known_hosts_file
    if given is not None and settings.known_hosts is None:
        target = given.expanduser()
        folder_writable = os.access(target.parent, os.W_OK)
        if os.access(target, os.W_OK) or (not target.exists() and folder_writable):
            return target
    return settings.state_dir / "accepted_host_keys"
