"""The health file (health.py) Docker's HEALTHCHECK reads."""

from __future__ import annotations

import json
import time
from pathlib import Path

from circadian_scp_upload.outcomes import Outcome
from circadian_scp_upload.station.health import HEALTH_FILE, Health, check_health


def test_no_file_means_unhealthy(tmp_path: Path) -> None:
    healthy, why = check_health(tmp_path)
    assert not healthy
    assert "not running" in why


def test_alive_after_a_failed_pass_unhealthy_after_a_refusal(tmp_path: Path) -> None:
    health = Health(tmp_path)
    health.finish_pass(Outcome.FAILED)
    assert check_health(tmp_path) == (True, "alive (0 s ago), last pass: failed")
    health.finish_pass(Outcome.REFUSED)
    healthy, why = check_health(tmp_path)
    assert not healthy
    assert "refused" in why
    health.finish_pass(Outcome.CONFIG)
    assert not check_health(tmp_path)[0]


def test_a_stale_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    (tmp_path / HEALTH_FILE).write_text(json.dumps({"heartbeat": time.time() - 3600}))
    healthy, why = check_health(tmp_path, stale_after=900)
    assert not healthy
    assert "has not reported for 3600 s" in why
