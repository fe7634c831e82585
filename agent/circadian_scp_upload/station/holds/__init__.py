"""The holds on a pass: what may keep a pass from starting, or stop it between files.

Each hold is one small object in a module of its own (``enabled``, ``window``, ``pause``)
answering one question at the start of a pass and again between files: may the pass go
now, and if not, why and until when (a ``Held``). ``build`` lists them in the one order
they are asked in; the first that holds decides, and its reason is the one wording the
log line, the status, the station report and the ping body all say. A hold may import
``config``, ``outcomes`` and ``errors``; never the agent, the engine or the transport.
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

__all__ = ["PAUSE_SEEN", "Held", "Hold", "OutsideWindow", "PauseFile", "TurnedOff", "build"]
__all__ += ["first_held"]


def build(
    settings: AgentSettings, window: UploadWindow | None, zone: StationZone, state_dir: Path
) -> list[Hold]:
    """Return the holds of a station in the order they are asked: turned off, then
    outside the upload window, then paused by the instrument."""
    return [
        TurnedOff(settings),
        OutsideWindow(window, zone),
        PauseFile(settings.pause_file, settings.pause_max_seconds, state_dir),
    ]
