"""Metrics for Prometheus: a textfile for node_exporter's textfile collector, and
optionally the same text over HTTP (``/metrics``).

Names start with ``csu_``; every series carries the ``station`` label, the backlog also
``upload_job`` (``job`` is Prometheus's own). The textfile is written atomically (a
temporary file renamed over it), as the collector requires, readable by it (0644).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from loguru import logger

from .status import Status

HELP = {
    "csu_last_success_timestamp_seconds": ("gauge", "end of the last pass that succeeded"),
    "csu_last_pass_timestamp_seconds": ("gauge", "end of the last pass"),
    "csu_last_pass_duration_seconds": ("gauge", "how long the last pass took"),
    "csu_last_pass_ok": ("gauge", "1 if the last pass succeeded, else 0"),
    "csu_backlog_days": ("gauge", "ready days not known to be verified on the server"),
    "csu_backlog_files": ("gauge", "files of the backlog days"),
    "csu_backlog_bytes": ("gauge", "bytes of the backlog days"),
    "csu_uploaded_files_total": ("counter", "files uploaded and verified"),
    "csu_uploaded_bytes_total": ("counter", "bytes sent"),
    "csu_replaced_kept_total": (
        "counter",
        "server copies of changed files kept under .csu-replaced (never deleted by the agent)",
    ),
    "csu_passes_total": ("counter", "passes, by outcome"),
    "csu_backlog_error": ("gauge", "1 where the backlog could not be counted (see status)"),
    "csu_clock_offset_seconds": (
        "gauge",
        "the server's clock minus the station's, as last measured (NaN: never measured)",
    ),
}
OUTCOMES = ("ok", "idle", "paused", "disabled", "stopped", "failed", "refused", "config")


def _number(value: float) -> str:
    """Every digit of a value (Prometheus reads floats; ``:g`` would keep six)."""
    if value != value:  # NaN: Prometheus's own spelling
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _timestamp(text: str | None) -> float:
    return datetime.datetime.fromisoformat(text).timestamp() if text else 0.0


def _escape(value: str) -> str:
    """Escape a label value as the text format wants: backslash, line break, quote."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def render(status: Status) -> str:
    """Return the metrics in Prometheus's text format."""
    station = status.station
    samples: dict[str, list[tuple[str, float]]] = {name: [] for name in HELP}
    last = status.last_pass or {}
    samples["csu_last_success_timestamp_seconds"].append(
        (_labels(station=station), _timestamp(status.last_success))
    )
    samples["csu_last_pass_timestamp_seconds"].append(
        (_labels(station=station), _timestamp(last.get("finished")))
    )
    samples["csu_last_pass_duration_seconds"].append(
        (_labels(station=station), float(last.get("duration_seconds", 0)))
    )
    samples["csu_last_pass_ok"].append(
        (_labels(station=station), 1.0 if last.get("outcome") == "ok" else 0.0)
    )
    for job, backlog in sorted(status.jobs.items()):
        for key in ("days", "files", "bytes"):
            samples[f"csu_backlog_{key}"].append(
                (_labels(station=station, upload_job=job), float(backlog.get(key, 0)))
            )
    for job, backlog in sorted(status.jobs.items()):
        samples["csu_backlog_error"].append(
            (_labels(station=station, upload_job=job), 1.0 if backlog.get("error") else 0.0)
        )
    samples["csu_uploaded_files_total"].append(
        (_labels(station=station), float(status.uploaded_files_total))
    )
    samples["csu_uploaded_bytes_total"].append(
        (_labels(station=station), float(status.uploaded_bytes_total))
    )
    offset = status.clock_offset_seconds
    samples["csu_clock_offset_seconds"].append(
        (_labels(station=station), float("nan") if offset is None else float(offset))
    )
    samples["csu_replaced_kept_total"].append(
        (_labels(station=station), float(status.replaced_kept_total))
    )
    for outcome in OUTCOMES:
        samples["csu_passes_total"].append(
            (_labels(station=station, outcome=outcome), float(status.passes_total.get(outcome, 0)))
        )
    lines = []
    for name, (kind, text) in HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{labels} {_number(value)}" for labels, value in samples[name]]
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by the collector (0644)."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class MetricsServer:
    """Serves the latest metrics at ``http://<address>:<port>/metrics``."""

    def __init__(self, port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - a scrape target
        self.text = "# no pass has finished yet\n"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = server.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                logger.trace("metrics request: " + format, *args)

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
