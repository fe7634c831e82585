"""A ping receiver for tests: a real HTTP server on loopback that records requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Monitor:
    """Records every request: (method, path, body), and each one's Authorization header."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.authorizations: list[str | None] = []
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                monitor.requests.append((self.command, self.path, body))
                monitor.authorizations.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = _record

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ping_monitor() -> Iterator[Monitor]:
    found = Monitor()
    yield found
    found.close()
