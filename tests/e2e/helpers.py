"""Client-side helpers for the end-to-end tests: the server API over HTTP, a
native-protocol client on top of the `websockets` library, raw HTTP
exchanges for malformed requests, and a bystander that proves a server still
serves its other clients after a bad input."""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

import rawws
from tlssock import SerializedTlsSocket


def unique(prefix: str = "ch") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ----- server API -----------------------------------------------------------

def api(server, method: str, body=None, *, key: str | None = "default", raw: bytes | None = None,
        headers: dict | None = None, http_method: str = "POST", timeout: float = 10.0):
    """POST /api/<method>; returns (status, parsed JSON or raw text)."""
    if key == "default":
        key = server.api_key
    hdrs = {"Content-Type": "application/json"}
    if key is not None:
        hdrs["X-API-Key"] = key
    hdrs.update(headers or {})
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn = server.http_connection(timeout, server.api_port)
    try:
        conn.request(http_method, f"/api/{method}", body=data, headers=hdrs)
        r = conn.getresponse()
        text = r.read()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text
    finally:
        conn.close()


def api_ok(server, method: str, body) -> dict:
    status, reply = api(server, method, body)
    assert status == 200, f"api {method} {body!r} -> {status} {reply!r}"
    assert isinstance(reply, dict) and "result" in reply, reply
    return reply["result"]


def assert_api_error(status: int, reply, want_status: int, want_code: int | set | None = None) -> None:
    assert status == want_status, f"HTTP {status} (want {want_status}): {reply!r}"
    assert isinstance(reply, dict) and isinstance(reply.get("error"), dict), \
        f"error body must be JSON {{\"error\":{{\"code\":N,\"message\":...}}}}, got {reply!r}"
    err = reply["error"]
    assert isinstance(err.get("code"), int), reply
    assert isinstance(err.get("message"), str) and err["message"], reply
    if want_code is not None:
        codes = want_code if isinstance(want_code, set) else {want_code}
        assert err["code"] in codes, f"error code {err['code']} (want {codes}): {reply!r}"


def publish(server, channel: str, payload, event_type: str = "test", **extra) -> dict:
    body = {"channel": channel, "eventType": event_type, "payload": payload, **extra}
    return api_ok(server, "publish", body)


# ----- raw HTTP ---------------------------------------------------------------

def http_exchange(server, data: bytes, *, chunk: int | None = None, timeout: float = 5.0,
                  shutdown_write: bool = False):
    """Sends raw bytes and reads one HTTP response: (status, headers, body).
    Raises rawws.Closed if the server closed without answering."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    try:
        if chunk:
            for i in range(0, len(data), chunk):
                s.sendall(data[i : i + chunk])
        else:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading it all
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        return read_response(s, timeout)
    finally:
        s.close()


def read_response(s: socket.socket, timeout: float = 5.0, leftover: bytes = b""):
    """Reads one HTTP response (Content-Length or close-delimited)."""
    buf = leftover
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        chunk = _recv(s, deadline)
        if not chunk:
            raise rawws.Closed(f"EOF before a response head; got {buf[:200]!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = _recv(s, deadline)
            if not chunk:
                break
            rest += chunk
        body, extra = rest[:n], rest[n:]
    else:
        body, extra = rest, b""
        if headers.get("transfer-encoding", "").lower() != "chunked":
            while True:
                try:
                    chunk = _recv(s, deadline)
                except TimeoutError:
                    break
                if not chunk:
                    break
                body += chunk
    return status, headers, body, extra


def _recv(s: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out reading the HTTP response")
    s.settimeout(remaining)
    try:
        return s.recv(65536)
    except socket.timeout:
        raise TimeoutError("timed out reading the HTTP response") from None
    except ConnectionResetError:
        return b""


def json_error_body(body: bytes) -> dict:
    reply = json.loads(body)
    assert isinstance(reply.get("error"), dict), reply
    assert isinstance(reply["error"].get("code"), int), reply
    assert isinstance(reply["error"].get("message"), str), reply
    return reply


# ----- native protocol over the websockets library ---------------------------

class NativeClient:
    """A native-protocol client using the `websockets` sync client. Splits
    each text frame on newlines (a server may batch replies and pushes), keeps
    pushes until asked for, matches replies by id."""

    def __init__(self, server, *, path: str = "/connection/websocket", compression: str | None = None,
                 open_timeout: float = 5.0):
        self.server = server
        url, tls = server.ws_url(path), {}
        if server.ssl_context:
            # TLS through our own socket: see tlssock.py for why.
            url = url.replace("wss://", "ws://", 1)
            tls = {"sock": SerializedTlsSocket(server.host, server.port, server.ssl_context, open_timeout)}
        self.ws = ws_connect(url, proxy=None, compression=compression, **tls,
                             open_timeout=open_timeout, ping_interval=None, max_size=None,
                             close_timeout=2, max_queue=None, legacy=True)
        self.next_id = 1
        self.inbox: list[dict] = []   # parsed messages not yet consumed
        self.client_id: str | None = None
        self.user: str | None = None

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # sending
    def send_lines(self, *lines: str) -> None:
        self.ws.send("\n".join(lines))

    def command(self, method: str, params: dict | None = None) -> tuple[int, str]:
        cid = self.next_id
        self.next_id += 1
        return cid, json.dumps({"id": cid, method: params if params is not None else {}})

    def send(self, method: str, params: dict | None = None) -> int:
        cid, line = self.command(method, params)
        self.ws.send(line)
        return cid

    def call(self, method: str, params: dict | None = None, timeout: float = 5.0) -> dict:
        """Sends a command and returns the whole reply object."""
        return self.wait_reply(self.send(method, params), timeout)

    def call_ok(self, method: str, params: dict | None = None, timeout: float = 5.0) -> dict:
        reply = self.call(method, params, timeout)
        assert "error" not in reply and method in reply, f"{method} {params!r} -> {reply!r}"
        return reply[method]

    # receiving
    def _pull(self, timeout: float) -> None:
        msg = self.ws.recv(timeout=timeout)
        if isinstance(msg, bytes):
            raise AssertionError(f"native protocol sent a binary frame: {msg[:100]!r}")
        for line in msg.split("\n"):
            if line.strip():
                self.inbox.append(json.loads(line))

    def next_message(self, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            self._pull(max(0.001, deadline - time.monotonic()))
        return self.inbox.pop(0)

    def wait_for(self, pred, timeout: float = 5.0, what: str = "message") -> dict:
        deadline = time.monotonic() + timeout
        i = 0
        while True:
            while i < len(self.inbox):
                if pred(self.inbox[i]):
                    return self.inbox.pop(i)
                i += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s; inbox={self.inbox[:5]!r}")
            try:
                self._pull(remaining)
            except TimeoutError:
                raise AssertionError(f"no {what} within {timeout}s; inbox={self.inbox[:5]!r}") from None

    def wait_reply(self, cid: int, timeout: float = 5.0) -> dict:
        return self.wait_for(lambda m: m.get("id") == cid, timeout, f"reply to id {cid}")

    def wait_event(self, channel: str, timeout: float = 5.0) -> dict:
        msg = self.wait_for(lambda m: "push" in m and m["push"].get("channel") == channel
                            and "event" in m["push"], timeout, f"event on {channel}")
        return msg["push"]["event"]

    def events(self, channel: str, n: int, timeout: float = 10.0) -> list[dict]:
        return [self.wait_event(channel, timeout) for _ in range(n)]

    def assert_no_event(self, channel: str, duration: float = 0.3) -> None:
        deadline = time.monotonic() + duration
        while True:
            for m in self.inbox:
                assert not ("push" in m and m["push"].get("channel") == channel and "event" in m["push"]), \
                    f"unexpected event on {channel}: {m!r}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                self._pull(remaining)
            except TimeoutError:
                return

    # protocol steps
    def connect(self, params: dict | None = None) -> dict:
        result = self.call_ok("connect", params or {})
        assert isinstance(result.get("client"), str) and result["client"], result
        self.client_id = result["client"]
        self.user = result.get("user", "")
        return result

    def subscribe(self, channel: str, **params) -> dict:
        return self.call_ok("subscribe", {"channel": channel, **params})

    def expect_closed(self, timeout: float = 5.0) -> tuple[int | None, str, list[dict]]:
        """Reads until the server closes; returns (close code, reason, the
        messages received before the close). Code None: no Close frame."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"connection still open after {timeout}s; inbox={self.inbox[:5]!r}")
            try:
                self._pull(remaining)
            except TimeoutError:
                continue
            except ConnectionClosed as e:
                rcvd = e.rcvd
                return (rcvd.code if rcvd else None), (rcvd.reason if rcvd else ""), list(self.inbox)


def close_abruptly(client: NativeClient) -> None:
    """Drops the client's TCP connection without a Close frame (an RST)."""
    sock = client.ws.socket
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    except OSError:
        pass
    client.close()


def disconnect_push(messages: list[dict]) -> dict | None:
    for m in messages:
        if "push" in m and "disconnect" in m["push"]:
            return m["push"]["disconnect"]
    return None


def assert_disconnected(client: NativeClient, code: int, timeout: float = 5.0, *,
                        push_required: bool = False, reconnect: bool | None = None) -> None:
    """The server closes with `code`; a disconnect push, if sent, agrees."""
    got, reason, before = client.expect_closed(timeout)
    assert got == code, f"close code {got} (want {code}), reason {reason!r}, before={before[-3:]!r}"
    push = disconnect_push(before)
    if push_required:
        assert push is not None, f"no disconnect push before close {code}: {before[-3:]!r}"
    if push is not None:
        assert push.get("code") == code, push
        assert isinstance(push.get("reason"), str), push
        if reconnect is not None:
            assert push.get("reconnect") is reconnect, push


# ----- bystander ----------------------------------------------------------------

class Bystander:
    """A connected, subscribed client: check() publishes through the API and
    asserts it still receives the event promptly."""

    def __init__(self, server):
        self.server = server
        self.channel = unique("bystander")
        self.client = NativeClient(server)
        self.client.connect()
        self.client.subscribe(self.channel)
        self.n = 0

    def check(self, timeout: float = 3.0) -> None:
        self.server.assert_alive()
        self.n += 1
        publish(self.server, self.channel, {"n": self.n})
        ev = self.client.wait_event(self.channel, timeout)
        assert ev["payload"] == {"n": self.n}, ev
        status, body = self.server.http_get("/health")
        assert status == 200 and json.loads(body) == {"status": "ok"}, (status, body)

    def close(self) -> None:
        self.client.close()
