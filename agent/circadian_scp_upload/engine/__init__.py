"""The upload engine: every finished day of one source folder, to one remote folder.

``client`` (``DailyTransferClient``: the lock, the ready days, oldest first) hands each
day to ``day`` (compare both sides, mark, upload, verify, remove, release), which uses
``comparison`` (what is synced, by listing alone), ``transfer`` (temporary names,
resume, the paced send loop, rename) with ``lanes`` (several SFTP channels), ``verify``
(checksums on the server, or read back), ``replaced`` (server copies kept aside),
``manifest`` (``SHA256SUMS``), ``pacing`` (bandwidth limit, abort poll) and
``progress``. It talks to the server only through ``remote.api.Remote`` and to the
station's disk through ``source``.

What the layers above may use is exported here.
"""

from .callbacks import DEFAULT_DATED_REGEX, UploadClientCallbacks
from .client import DailyTransferClient, Pending, RunReport
from .day import DayResult, DayStatus
from .lanes import MAX_CHANNELS
from .pacing import Pacer

__all__ = [
    "DEFAULT_DATED_REGEX",
    "MAX_CHANNELS",
    "DailyTransferClient",
    "DayResult",
    "DayStatus",
    "Pacer",
    "Pending",
    "RunReport",
    "UploadClientCallbacks",
]
