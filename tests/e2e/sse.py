"""A small Server-Sent Events client for the end-to-end tests, written from
the WHATWG HTML "Server-sent events" parsing rules (section 9.2.6), not from
Herald's code, so that it reads the stream the way a browser does:

- the body is UTF-8; lines end in CRLF, LF or CR; a leading BOM is dropped;
- a line starting with ':' is a comment (kept here in `comments`, since the
  tests look for heartbeats);
- `field: value` (one space after the colon dropped), a line without ':' is
  a field with an empty value; unknown fields are ignored;
- `data` appends the value and a LF to the data buffer, `event` sets the
  type, `id` sets the last-event-id buffer unless the value holds NUL,
  `retry` sets the reconnection time if the value is all ASCII digits;
- a blank line dispatches: the last event id becomes the buffer's value
  (even when no event follows), an empty data buffer dispatches nothing,
  otherwise one trailing LF is removed and the event is delivered with type
  "message" unless `event` named another;
- an event not ended by a blank line before the stream closes is dropped.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class Event:
    type: str
    data: str
    last_event_id: str

    def json(self) -> dict:
        return json.loads(self.data)

    def cursor(self) -> dict[str, tuple[int, str]]:
        return parse_cursor(self.last_event_id)


def parse_cursor(text: str) -> dict[str, tuple[int, str]]:
    """`<offset>.<epoch>.<channel>,...` -> {channel: (offset, epoch)}."""
    out: dict[str, tuple[int, str]] = {}
    if not text:
        return out
    for item in text.split(","):
        offset, epoch, channel = item.split(".", 2)
        channel = channel.replace("%2C", ",").replace("%25", "%")
        assert channel not in out, f"channel {channel!r} twice in cursor {text!r}"
        out[channel] = (int(offset), epoch)
    return out


class StreamClosed(AssertionError):
    pass


class SseClient:
    """One GET of an event stream over a raw socket. `status`, `headers` and
    (for a refused stream) `body` come from the response head; events are
    read with next_event()."""

    def __init__(self, host: str, port: int, path: str, *, headers: dict | None = None,
                 method: str = "GET", timeout: float = 5.0, rcvbuf: int | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the window the server sees is small too.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        hdrs = {"Host": f"{host}:{port}", "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        hdrs.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.sock.sendall(head.encode("latin-1"))
        self.closed = False
        self.raw = b""              # the body bytes received (first MiB), for checks on the wire form
        self._buf = b""             # body bytes not yet split into lines
        self._first = True          # BOM check pending
        self.comments: list[tuple[float, str]] = []   # (monotonic time, text after ':')
        self.retry_ms: int | None = None
        self.retries: list[int] = []
        self.last_event_id = ""
        self._id_buffer = ""
        self._data: list[str] = []
        self._type = ""
        self._events: list[Event] = []
        self._pending = b""
        self._read_head(time.monotonic() + timeout)

    # ----- the response head ------------------------------------------------

    def _read_head(self, deadline: float) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self._recv(deadline)
            if not chunk:
                raise StreamClosed(f"EOF before the response head; got {buf[:300]!r}")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ")[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        assert "chunked" not in self.headers.get("transfer-encoding", ""), \
            "this reader does not de-chunk; Herald streams close-delimited bodies"
        self.body = b""
        if self.status != 200:
            # A refusal: a JSON body with Content-Length (or none at all).
            n = int(self.headers.get("content-length", "0"))
            self.body = rest
            while len(self.body) < n:
                chunk = self._recv(deadline)
                if not chunk:
                    break
                self.body += chunk
            return
        self._pending = rest  # fed by _pull, so cut_after() can count it

    def error_json(self) -> dict:
        reply = json.loads(self.body)
        assert isinstance(reply.get("error"), dict), reply
        assert isinstance(reply["error"].get("code"), int), reply
        assert isinstance(reply["error"].get("message"), str) and reply["error"]["message"], reply
        return reply["error"]

    # ----- bytes -> lines -> events ------------------------------------------

    def _recv(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out reading the event stream")
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("timed out reading the event stream") from None
        except ConnectionResetError:
            return b""

    def _feed(self, data: bytes) -> None:
        if len(self.raw) < 1 << 20:  # the first MiB is enough for any check
            self.raw += data
        self._buf += data
        if self._first and len(self._buf) >= 3:
            if self._buf.startswith(b"\xef\xbb\xbf"):
                self._buf = self._buf[3:]
            self._first = False
        while True:
            i_lf = self._buf.find(b"\n")
            i_cr = self._buf.find(b"\r")
            if i_lf < 0 and i_cr < 0:
                return
            if i_cr >= 0 and (i_lf < 0 or i_cr < i_lf):
                if i_cr + 1 == len(self._buf) and not self.closed:
                    return  # a CR at the end: wait to see whether LF follows
                line = self._buf[:i_cr]
                skip = 2 if self._buf[i_cr + 1 : i_cr + 2] == b"\n" else 1
                self._buf = self._buf[i_cr + skip :]
            else:
                line, self._buf = self._buf[:i_lf], self._buf[i_lf + 1 :]
            self._line(line.decode("utf-8", errors="replace"))

    def _line(self, line: str) -> None:
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            self.comments.append((time.monotonic(), line[1:]))
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry":
            if value and all("0" <= c <= "9" for c in value):
                self.retry_ms = int(value)
                self.retries.append(self.retry_ms)

    def _dispatch(self) -> None:
        self.last_event_id = self._id_buffer
        if not self._data:
            self._type = ""
            return
        data = "\n".join(self._data)  # = each value + LF, minus the last LF
        self._events.append(Event(self._type or "message", data, self.last_event_id))
        self._data, self._type = [], ""

    def _next_chunk(self, deadline: float) -> bytes:
        if self._pending:
            chunk, self._pending = self._pending, b""
            return chunk
        return self._recv(deadline)

    def _pull(self, deadline: float) -> None:
        if self.closed:
            raise StreamClosed("the server closed the stream")
        chunk = self._next_chunk(deadline)
        if not chunk:
            self.closed = True
            self._feed(b"")  # a CR waiting for its LF ends its line now
            # A half-received event is dropped, as a browser drops it.
            self._data, self._type = [], ""
            if not self._events:
                raise StreamClosed("the server closed the stream")
            return
        self._feed(chunk)

    # ----- for the tests ----------------------------------------------------

    def next_event(self, timeout: float = 5.0) -> Event:
        deadline = time.monotonic() + timeout
        while not self._events:
            self._pull(deadline)
        return self._events.pop(0)

    def expect(self, type_: str, timeout: float = 5.0) -> Event:
        ev = self.next_event(timeout)
        assert ev.type == type_, f"event {ev.type!r} (want {type_!r}): {ev!r}"
        return ev

    def wait_for(self, pred, timeout: float = 5.0, what: str = "event") -> Event:
        """Skips events until pred(event); returns it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self._events):
                if pred(ev):
                    del self._events[: i + 1]
                    return ev
            self._events.clear()
            try:
                self._pull(deadline)
            except TimeoutError:
                raise AssertionError(f"no {what} within {timeout}s") from None

    def events(self, n: int, timeout: float = 10.0) -> list[Event]:
        deadline = time.monotonic() + timeout
        return [self.next_event(max(0.001, deadline - time.monotonic())) for _ in range(n)]

    def assert_quiet(self, duration: float = 0.3) -> None:
        """No event arrives for `duration` seconds (comments are fine)."""
        deadline = time.monotonic() + duration
        while not self._events:
            try:
                self._pull(deadline)
            except TimeoutError:
                return
        raise AssertionError(f"unexpected event: {self._events[0]!r}")

    def read_until_closed(self, timeout: float = 5.0) -> list[Event]:
        """Reads until the server closes the connection; returns the events."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            try:
                self._pull(deadline)
            except StreamClosed:
                break
            except TimeoutError:
                raise AssertionError(f"stream still open after {timeout}s") from None
        out, self._events = self._events, []
        return out

    def cut_after(self, nbytes: int, timeout: float = 5.0) -> list[Event]:
        """Takes exactly `nbytes` more body bytes (wherever that falls: inside
        a line, between an event's id and its data...), then drops the
        connection, as a network cut would. Returns the complete events."""
        deadline = time.monotonic() + timeout
        taken = 0
        while taken < nbytes and not self.closed:
            try:
                chunk = self._next_chunk(deadline)
            except TimeoutError:
                break
            if not chunk:
                self.closed = True
                break
            chunk = chunk[: nbytes - taken]
            taken += len(chunk)
            self._feed(chunk)
        self.abort()
        self._data, self._type = [], ""  # the event the cut split is lost
        out, self._events = self._events, []
        return out

    def pending(self) -> list[Event]:
        return list(self._events)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self) -> None:
        """Drops the connection with an RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sse_path(channels, *, token: str | None = None, last_event_id: str | None = None, raw_query: str | None = None) -> str:
    if raw_query is not None:
        return "/connection/sse?" + raw_query
    params = {"channels": ",".join(channels) if not isinstance(channels, str) else channels}
    if token is not None:
        params["token"] = token
    if last_event_id is not None:
        params["lastEventId"] = last_event_id
    return "/connection/sse?" + urllib.parse.urlencode(params)


def open_stream(server, channels, *, token: str | None = None, headers: dict | None = None,
                last_event_id: str | None = None, query_last_event_id: str | None = None,
                raw_query: str | None = None, **kw) -> SseClient:
    hdrs = dict(headers or {})
    if last_event_id is not None:
        hdrs["Last-Event-ID"] = last_event_id
    path = sse_path(channels, token=token, last_event_id=query_last_event_id, raw_query=raw_query)
    return SseClient(server.host, server.port, path, headers=hdrs, **kw)
