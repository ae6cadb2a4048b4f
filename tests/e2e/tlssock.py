"""A TLS socket that one thread may read while another writes.

The `websockets` sync client reads in a background thread and sends from
the caller's thread on the same socket. A Python ssl.SSLSocket is one
OpenSSL SSL object, which must not be used by two threads at once: with
TLS 1.3 the reader processes the server's session tickets just as the
writer sends the upgrade request, and about one connection in two hundred
then never sees the server's response (measured: 7 of 1,500 connects with
the plain SSLSocket, none of 3,000 with this one, none over TLS 1.2). This
wrapper keeps the socket non-blocking and holds a lock
around every OpenSSL call, waiting for readiness outside the lock.
"""
from __future__ import annotations

import select
import socket
import ssl
import threading
import time


class SerializedTlsSocket:
    """The subset of the socket API that websockets' sync client uses."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, timeout: float):
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._tls = context.wrap_socket(raw, server_hostname=host)  # handshake, blocking
        self._tls.setblocking(False)
        self._lock = threading.Lock()
        self._timeout: float | None = None
        self._closed = False
        self.family = self._tls.family

    # What websockets calls besides recv and sendall.
    def fileno(self) -> int:
        return self._tls.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def setsockopt(self, *args) -> None:
        self._tls.setsockopt(*args)

    def getsockname(self):
        return self._tls.getsockname()

    def getpeername(self):
        return self._tls.getpeername()

    def shutdown(self, how: int) -> None:
        with self._lock:
            self._tls.shutdown(how)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._tls.close()

    def recv(self, bufsize: int) -> bytes:
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            with self._lock:
                if self._closed:
                    raise OSError("socket closed")
                try:
                    return self._tls.recv(bufsize)
                except (ssl.SSLWantReadError, BlockingIOError):
                    want = "read"
                except ssl.SSLWantWriteError:
                    want = "write"
            self._wait(want, deadline)

    def sendall(self, data: bytes) -> None:
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        view = memoryview(data)
        while view:
            with self._lock:
                if self._closed:
                    raise OSError("socket closed")
                try:
                    view = view[self._tls.send(view):]
                    continue
                except (ssl.SSLWantWriteError, BlockingIOError):
                    want = "write"
                except ssl.SSLWantReadError:
                    want = "read"
            self._wait(want, deadline)

    def _wait(self, want: str, deadline: float | None) -> None:
        """Waits (outside the lock) until the socket is ready, in short
        slices so that a close from another thread ends the wait."""
        while not self._closed:
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError("timed out")
            fd = self._tls.fileno()
            if fd < 0:
                break
            r, w, _ = select.select([fd] if want == "read" else [], [fd] if want == "write" else [], [], left)
            if r or w:
                return
        raise OSError("socket closed")
