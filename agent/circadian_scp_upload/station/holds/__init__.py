"""The holds on a pass: what may keep a pass from starting, or stop it between files.

Each hold is one small object in a module of its own (``enabled``, ``window``, ``pause``)
answering one question at the start of a pass and again between files: may the pass go
now, and if not, why and until when (a ``Held``). ``build`` lists them in the one order
they are asked in; every hold is asked (a hold may keep bookkeeping of its own, in the
state folder), the first that holds decides, and its reason is the one wording of the
log line, the status and the ping body. A hold may import ``config``, ``source`` (the
station's zone), ``outcomes`` and ``errors``; never the agent, the engine or the
transport (an import contract).
Adding a hold is a new module here and one line in ``build``. Holds on a single day (not
over yet, the quiet period, the server's clock) are the engine's readiness rules.
"""

from __future__ import annotations

from pathlib import Path

from ...config.schedule import UploadWindow
from ...config.settings import AgentSettings
from ...source.readiness import StationZone
from .base import Held, Hold, first_held
from .enabled import TurnedOff
from .pause import PAUSE_SEEN, PauseFile
from .window import OutsideWindow

__all__ = [
    "PAUSE_SEEN",
    "Held",
    "Hold",
    "OutsideWindow",
    "PauseFile",
    "TurnedOff",
    "build",
    "first_held",
]


def build(
    settings: AgentSettings, window: UploadWindow | None, zone: StationZone, state_dir: Path
) -> list[Hold]:
    """Return the holds of a station in the order they decide: turned off, then paused by
    the instrument, then outside the upload window."""
    return [
        TurnedOff(settings),
        PauseFile(settings.pause_file, settings.pause_max_seconds, state_dir),
        OutsideWindow(window, zone),
    ]
