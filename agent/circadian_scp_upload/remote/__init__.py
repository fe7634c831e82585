"""The transport: the only sub-package that imports paramiko.

- ``api``: the ``Remote`` Protocol the upload code uses, and its plain types.
- ``session``: one SSH connection: socket, host-key trust, login, SFTP channel.
- ``hostkeys``, ``credentials``: whom to trust, and with which key to log in.
- ``wire``: paramiko's SFTP client plus extensions, pipelining, replies matched by
  request number, lossless listings, key renewals that never hang.
- ``compat``: paramiko's private API, every use of it, each hook listed and checked.
- ``sftp``: single SFTP requests, a file sink, pipelined batches.
- ``exec``: commands and raw streams over exec channels.
- ``probe``: what the server offers, decided once per connection.
- ``errors``: the one translator of paramiko and socket failures.
- ``paths``: remote folders as users write them; ``logs``: paramiko's logging routed.
- ``connection``: ``RemoteConnection``, the public class implementing ``Remote``.
"""

from .api import Batch, CommandResult, Listing, Remote, RemoteEntry, ServerTraits, Sink
from .connection import RemoteConnection, split_host_port

__all__ = [
    "Batch",
    "CommandResult",
    "Listing",
    "Remote",
    "RemoteConnection",
    "RemoteEntry",
    "ServerTraits",
    "Sink",
    "split_host_port",
]
