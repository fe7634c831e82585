"""A TCP proxy on loopback that injects link faults between a client and a real sshd.

Controllable from the test while it runs: cut connections after N bytes, stall them
(no data, no reset), limit bandwidth, add latency. ``tc netem`` is not available on
these machines, so faults are made here, in user space.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

CHUNK = 16384


@dataclass
class Faults:
    """What the proxy does to each new connection; change it at any time."""

    cut_after_bytes: list[int] = field(default_factory=list)  # one entry per connection, in order
    stall: bool = False  # while True, no byte moves in either direction
    latency_seconds: float = 0.0  # added to each chunk, each way
    bytes_per_second: float = 0.0  # 0 = unlimited


class FaultProxy:
    """Forwards 127.0.0.1:<port> to a target port, applying ``faults``."""

    def __init__(self, target_port: int, faults: Faults | None = None) -> None:
        self.target_port = target_port
        self.faults = faults or Faults()
        self.connections = 0
        self.cuts = 0
        self.bytes_up = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        self.cut_all()

    def cut_all(self) -> None:
        """Reset every open connection now."""
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self._sockets.clear()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                index = self.connections
                self.connections += 1
                self._sockets += [client, upstream]
            cuts = self.faults.cut_after_bytes
            limit = cuts[index] if index < len(cuts) else None
            budget = {"left": limit}
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pump, args=(src, dst, up, budget, (client, upstream)), daemon=True
                ).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        upstream: bool,
        budget: dict[str, int | None],
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                while self.faults.stall and not self._closing.is_set():
                    time.sleep(0.05)
                if self.faults.latency_seconds:
                    time.sleep(self.faults.latency_seconds)
                if self.faults.bytes_per_second:
                    time.sleep(len(data) / self.faults.bytes_per_second)
                if upstream:
                    with self._lock:
                        self.bytes_up += len(data)
                        left = budget["left"]
                        if left is not None:
                            budget["left"] = left - len(data)
                    if left is not None and left - len(data) <= 0:
                        self.cuts += 1
                        break
                dst.sendall(data)
        except OSError:
            pass
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
