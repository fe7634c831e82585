"""circadian-scp-upload: upload each finished day of instrument data over SSH, verified.

The library API::

    callbacks = UploadClientCallbacks(dated_regex=r"^%Y%m%d$")
    with RemoteConnection("1.2.3.4", "someusername", "somepassword") as remote_connection:
        DailyTransferClient(
            remote_connection=remote_connection,
            src_path="/path/to/local/data",
            dst_path="/path/to/remote/data",
            remove_files_after_upload=True,
            variant="directories",
            callbacks=callbacks,
        ).run()
"""

from loguru import logger

from .config.versions import installed
from .engine import DailyTransferClient, DayResult, Pacer, RunReport, UploadClientCallbacks
from .errors import (
    AuthenticationError,
    CircadianError,
    ConfigError,
    ExecRefused,
    HostKeyError,
    LocalFileError,
    LockedError,
    PatternError,
    PermanentError,
    RemotePathError,
    TransientError,
    UploadAborted,
)
from .remote import RemoteConnection
from .source.patterns import DatedPattern

__version__ = installed("circadian-scp-upload")

# A library stays quiet unless its host asks: messages reach the callbacks either way.
logger.disable("circadian_scp_upload")

__all__ = [
    "AuthenticationError",
    "CircadianError",
    "ConfigError",
    "DailyTransferClient",
    "DatedPattern",
    "DayResult",
    "ExecRefused",
    "HostKeyError",
    "LocalFileError",
    "LockedError",
    "Pacer",
    "PatternError",
    "PermanentError",
    "RemoteConnection",
    "RemotePathError",
    "RunReport",
    "TransientError",
    "UploadAborted",
    "UploadClientCallbacks",
    "__version__",
]
