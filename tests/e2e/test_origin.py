"""Origin checks on the WebSocket upgrade ([server] allowed_origins,
allow_missing_origin): a foreign origin gets 403 with JSON error 103 and is
counted as reason "origin"; an origin matching a glob is upgraded; a request
without Origin is allowed by default and refused when
allow_missing_origin = false. Real sockets, real upgrade requests."""
from __future__ import annotations

import base64
import json
import os
import socket
import time

from helpers import NativeClient, _recv
from test_http import metric_samples

ALLOW = '[server]\nallowed_origins = ["https://*.example.com", "http://localhost:*"]\n'
REFUSED = {"error": {"code": 103, "message": "origin not allowed"}}


def upgrade(server, origin: str | None) -> tuple[int, bytes]:
    """Sends a WebSocket upgrade; returns the status and, for a refusal, the body."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /connection/websocket HTTP/1.1", f"Host: {server.host}:{server.port}",
             "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + 5
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = _recv(s, deadline)
            assert chunk, f"closed before a response: {buf!r}"
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ")[1])
        if status == 101:
            return status, b""
        length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
        while len(body) < length:
            chunk = _recv(s, deadline)
            assert chunk
            body += chunk
        return status, body[:length]


def origin_rejections(server) -> float:
    return metric_samples(server).get('herald_rejections_total{reason="origin"}', 0.0)


def test_foreign_origin_gets_403_with_json_error(herald_factory):
    server = herald_factory(config=ALLOW)
    status, body = upgrade(server, "https://evil.example.net")
    assert status == 403, body
    assert json.loads(body) == REFUSED
    # A look-alike that only contains an allowed name is foreign too.
    assert upgrade(server, "https://example.com.evil.net")[0] == 403
    assert origin_rejections(server) == 2


def test_origin_matching_a_glob_is_upgraded(herald_factory):
    server = herald_factory(config=ALLOW)
    assert upgrade(server, "https://app.example.com")[0] == 101
    assert upgrade(server, "https://a.b.example.com")[0] == 101
    assert upgrade(server, "http://localhost:3000")[0] == 101
    assert origin_rejections(server) == 0


def test_every_origin_is_allowed_by_default(herald):
    assert upgrade(herald, "https://anything.example")[0] == 101
    assert upgrade(herald, None)[0] == 101


def test_missing_origin_is_allowed_by_default_and_refusable(herald_factory):
    server = herald_factory(config=ALLOW)
    assert upgrade(server, None)[0] == 101
    # A client library that sends no Origin works end to end.
    with NativeClient(server) as c:
        c.connect()

    strict = herald_factory(config=ALLOW + "allow_missing_origin = false\n")
    status, body = upgrade(strict, None)
    assert status == 403 and json.loads(body) == REFUSED
    assert upgrade(strict, "https://app.example.com")[0] == 101
    assert origin_rejections(strict) == 1
