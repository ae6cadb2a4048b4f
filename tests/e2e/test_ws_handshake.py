"""Valid WebSocket handshakes as real clients send them: header case and
order, Connection lists, query strings, the first frame in the same packet
as the request, subprotocol offers."""

from __future__ import annotations

import base64
import json
import os

import pytest

import rawws
from conftest import running_herald
from rawws import OP_TEXT, RawWS, build_frame

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_herald(tmp_path_factory.mktemp("handshake")) as s:
        yield s


def raw_handshake(server, lines: list[str], after: bytes = b"") -> RawWS:
    key = base64.b64encode(os.urandom(16)).decode()
    req = "\r\n".join(l.replace("{KEY}", key) for l in lines) + "\r\n\r\n"
    sock = RawWS.open_socket(server.host, server.port)
    sock.sendall(req.encode() + after)
    status, headers, leftover = rawws.read_http_head(sock)
    assert status == 101, (status, headers)
    assert headers["sec-websocket-accept"] == rawws.accept_key(key), headers
    return RawWS(sock, headers, leftover)


def connect_works(ws: RawWS) -> None:
    ws.send_text(b'{"id":1,"connect":{}}')
    reply = json.loads(ws.recv_message()[1].split(b"\n")[0])
    assert reply.get("id") == 1 and "connect" in reply, reply
    ws.close_socket()


@pytest.mark.parametrize("lines", [
    ["GET /connection/websocket HTTP/1.1", "host: x", "upgrade: WebSocket", "connection: keep-alive, Upgrade",
     "sec-websocket-key: {KEY}", "sec-websocket-version: 13"],
    ["GET /connection/websocket HTTP/1.1", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: {KEY}",
     "Connection: Upgrade", "Upgrade: websocket", "Host: x", "User-Agent: test", "Origin: http://example.com",
     "Cache-Control: no-cache", "Pragma: no-cache"],
    ["GET /connection/websocket HTTP/1.1", "Host: x", "Upgrade:websocket", "Connection:   upgrade  ",
     "Sec-WebSocket-Key:   {KEY}  ", "Sec-WebSocket-Version: 13"],
], ids=["lowercase-and-keepalive-list", "reordered-extra-headers", "odd-whitespace"])
def test_header_variants_are_accepted(server, lines):
    connect_works(raw_handshake(server, lines))


def test_query_string_on_the_websocket_path(server):
    connect_works(raw_handshake(server, [
        "GET /connection/websocket?format=json&cf_protocol_version=v2 HTTP/1.1", "Host: x",
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]))


def test_first_frame_in_the_same_packet_as_the_request(server):
    ws = raw_handshake(server, [
        "GET /connection/websocket HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"],
        after=build_frame(OP_TEXT, b'{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"early"}}'))
    got = b""
    while b'"id":2' not in got:
        got += ws.recv_message()[1] + b"\n"
    replies = [json.loads(l) for l in got.split(b"\n") if l.strip()]
    assert [r["id"] for r in replies] == [1, 2] and "subscribe" in replies[1], replies
    ws.close_socket()


def test_unsupported_subprotocol_is_not_echoed(server):
    ws = raw_handshake(server, [
        "GET /connection/websocket HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: mqtt, stomp"])
    assert ws.headers.get("sec-websocket-protocol") in (None, "mqtt", "stomp"), ws.headers
    connect_works(ws)


def test_many_clients_connect_at_once(server):
    conns = [RawWS.connect(server.host, server.port, "/connection/websocket") for _ in range(200)]
    for ws in conns:
        ws.send_text(b'{"id":1,"connect":{}}')
    ids = set()
    for ws in conns:
        reply = json.loads(ws.recv_message()[1].split(b"\n")[0])
        ids.add(reply["connect"]["client"])
        ws.close_socket()
    assert len(ids) == 200
