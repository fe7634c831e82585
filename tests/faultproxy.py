"""A TCP proxy on loopback that injects link faults between a client and a real sshd.

Controllable from the test while it runs: cut connections after N bytes, stall them
(no data, no reset), limit bandwidth (per connection, or an uplink all connections
share), add latency. ``tc netem`` is not available on
these machines, so faults are made here, in user space.
"""

from __future__ import annotations

import contextlib
import queue
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
    bytes_per_second: float = 0.0  # each connection, each way; 0 = unlimited
    # client to server, shared by every connection (a station's uplink); 0 = unlimited
    uplink_bytes_per_second: float = 0.0


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
        self._uplink_lock = threading.Lock()
        self._uplink_free_at = 0.0  # when the shared uplink has sent all it was given
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closing.set()
        # a listener closed while a thread waits in accept() would go on listening
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
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
            for sock in (client, upstream):  # a faithful link: no Nagle delays of our own
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        """Read from ``src`` and hand chunks to a delay line that writes them to ``dst``."""
        line: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
        writer = threading.Thread(target=self._deliver, args=(line, dst, pair), daemon=True)
        writer.start()
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                while self.faults.stall and not self._closing.is_set():
                    time.sleep(0.05)
                if self.faults.bytes_per_second:
                    time.sleep(len(data) / self.faults.bytes_per_second)
                if upstream and self.faults.uplink_bytes_per_second:
                    self._through_uplink(len(data))
                if upstream:
                    with self._lock:
                        self.bytes_up += len(data)
                        left = budget["left"]
                        if left is not None:
                            budget["left"] = left - len(data)
                    if left is not None and left - len(data) <= 0:
                        self.cuts += 1
                        break
                line.put((time.monotonic() + self.faults.latency_seconds, data))
        except OSError:
            pass
        line.put(None)
        writer.join()
        _close_pair(pair)

    def _through_uplink(self, size: int) -> None:
        """Wait until ``size`` bytes have passed the uplink all connections share: each
        chunk takes its turn after what was queued before it, at the uplink's rate."""
        with self._uplink_lock:
            now = time.monotonic()
            done = max(now, self._uplink_free_at) + size / self.faults.uplink_bytes_per_second
            self._uplink_free_at = done
        time.sleep(max(0.0, done - time.monotonic()))

    def _deliver(
        self,
        line: queue.Queue[tuple[float, bytes] | None],
        dst: socket.socket,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        """Write each chunk once its delay is over (a latency that keeps the bandwidth)."""
        try:
            while (item := line.get()) is not None:
                due, data = item
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            _close_pair(pair)


def _close_pair(pair: tuple[socket.socket, socket.socket]) -> None:
    for sock in pair:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
