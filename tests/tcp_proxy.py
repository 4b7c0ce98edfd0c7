"""A small threaded TCP proxy for tests that take an endpoint away and bring it back.

`TcpProxy(target_port).start()` listens on 127.0.0.1:`proxy.port` and forwards every connection
to 127.0.0.1:`target_port`. `stop()` closes the listener and every open connection, so clients
see their connections end and new ones refused; `start()` listens again on the same port. The
proxy is bounded: after `lifetime` seconds it stops itself for good, and all its threads are
daemons, so a failing test cannot leave it running.
"""

from __future__ import annotations

import contextlib
import errno
import random
import selectors
import socket
import threading
import time
from types import TracebackType

LOOPBACK = "127.0.0.1"
# Below Linux's default ephemeral range (32768-60999): while the proxy is stopped, no outgoing
# connection on this machine can be given its port as a local port.
PORT_RANGE = (20000, 32000)


class TcpProxy:
    """Forward 127.0.0.1:`port` to 127.0.0.1:`target_port` while started."""

    def __init__(
        self,
        target_port: int,
        *,
        lifetime: float = 300.0,
        connect_timeout: float = 5.0,
        buffer_size: int = 256 * 1024,
    ) -> None:
        self.target_port = target_port
        self.lifetime = lifetime
        self.connect_timeout = connect_timeout
        self.buffer_size = buffer_size
        self.port = 0
        self.connections_made = 0
        self._deadline = time.monotonic() + lifetime
        self._lock = threading.Lock()
        self._listening: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._pumps: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()  # connections in use, both ends
        self._closed = threading.Event()  # for good: close() was called or the lifetime is over

    # -- control ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        with self._lock:
            return self._listening is not None

    def start(self, bind_timeout: float = 5.0) -> TcpProxy:
        """Listen (again) on the same port; the first start picks a free port."""
        if self._expired():
            raise RuntimeError("the proxy is closed (close() was called, or its lifetime is over)")
        with self._lock:
            if self._listening is not None:
                return self
        listening = self._bind(bind_timeout)
        self.port = listening.getsockname()[1]
        thread = threading.Thread(
            target=self._accept, args=(listening,), name="tcp-proxy-accept", daemon=True
        )
        with self._lock:
            self._listening, self._accepting = listening, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; `start()` may listen again later."""
        with self._lock:
            listening, self._listening = self._listening, None
            accepting, self._accepting = self._accepting, None
            sockets, self._sockets = self._sockets, set()
            pumps = set(self._pumps)
        current = threading.current_thread()
        if listening is not None:
            _shutdown(listening)  # wakes a blocked accept(); closed once that thread is out
            if accepting is not None and accepting is not current:
                accepting.join(timeout=2)
            listening.close()
        for sock in sockets:
            _shutdown(sock)  # the pump that owns the socket sees the end and closes it
        for pump in pumps:
            pump.join(timeout=2)

    def close(self) -> None:
        """Stop for good."""
        self._closed.set()
        self.stop()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _bind(self, timeout: float) -> socket.socket:
        if self.port == 0:
            return _free_listener()
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            try:
                return _listener(self.port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                    raise
            pause.wait(0.05)

    def _expired(self) -> bool:
        if time.monotonic() >= self._deadline:
            self._closed.set()
        return self._closed.is_set()

    def _listening_on(self, listening: socket.socket) -> bool:
        with self._lock:
            return self._listening is listening

    def _accept(self, listening: socket.socket) -> None:
        while self._listening_on(listening):
            if self._expired():
                threading.Thread(target=self.stop, name="tcp-proxy-stop", daemon=True).start()
                return
            try:
                client, _ = listening.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # shut down by stop()
            try:
                upstream = socket.create_connection(
                    (LOOPBACK, self.target_port), timeout=self.connect_timeout
                )
            except OSError:
                _close(client)
                continue
            pump = threading.Thread(
                target=self._pump, args=(client, upstream), name="tcp-proxy-pump", daemon=True
            )
            with self._lock:
                if self._listening is not listening:  # stopped meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self._sockets.update((client, upstream))
                self._pumps.add(pump)
                self.connections_made += 1
            pump.start()

    def _in_use(self, sock: socket.socket) -> bool:
        with self._lock:
            return sock in self._sockets

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways until both sides are done, the proxy stops, or time is up."""
        peer = {client: upstream, upstream: client}
        reading = {client, upstream}
        try:
            with selectors.DefaultSelector() as selector:
                for sock in reading:
                    sock.settimeout(None)
                    selector.register(sock, selectors.EVENT_READ)
                while reading and self._in_use(client) and not self._expired():
                    for key, _ in selector.select(timeout=0.1):
                        source = client if key.fileobj is client else upstream
                        data = source.recv(self.buffer_size)
                        if data:
                            peer[source].sendall(data)
                            continue
                        # End of stream from one side: pass it on, keep reading the other.
                        selector.unregister(source)
                        reading.discard(source)
                        peer[source].shutdown(socket.SHUT_WR)
        except OSError:
            pass  # reset by a peer, or shut down by stop()
        finally:
            with self._lock:
                self._sockets.discard(client)
                self._sockets.discard(upstream)
                self._pumps.discard(threading.current_thread())
            _close(client)
            _close(upstream)


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Connections the proxy closed linger in TIME_WAIT on this port; listen again regardless.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.settimeout(0.1)
    return sock


def _free_listener(tries: int = 200) -> socket.socket:
    """A listener on a free port in PORT_RANGE."""
    last: OSError | None = None
    for _ in range(tries):
        try:
            return _listener(random.randrange(*PORT_RANGE))
        except OSError as exc:
            last = exc
    raise RuntimeError(f"no free port in {PORT_RANGE} after {tries} tries: {last}")


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _close(sock: socket.socket) -> None:
    _shutdown(sock)
    sock.close()
