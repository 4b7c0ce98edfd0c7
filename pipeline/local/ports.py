"""Loopback TCP port helpers for the embedded local stack."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.errors import LocalStackError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing was bound to a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether a server could bind 127.0.0.1:`port` right now (it may be taken a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers (nginx, werkzeug) set SO_REUSEADDR, so a port in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, timeout: float = 0.2) -> bool:
    """Whether a TCP connection to 127.0.0.1:`port` succeeds within `timeout` seconds."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float) -> None:
    """Block until 127.0.0.1:`port` accepts connections; LocalStackError after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if port_accepts(port):
            return
        if time.monotonic() >= deadline:
            raise LocalStackError(
                f"Nothing accepted connections on {LOOPBACK}:{port} within {timeout:g} s; "
                "the local server that should listen there did not start (see its log)."
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class LoopbackService:
    """An HTTP service on a free 127.0.0.1 port, answered by `handler()`'s class in daemon
    threads; `start()` and `stop()` it."""

    thread_name = "mediapub-loopback"

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> LoopbackService:
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self.handler())
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name=self.thread_name, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
