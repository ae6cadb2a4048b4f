"""Bad WebSocket input on the production endpoint /connection/websocket.

Each case gets its defined HTTP status or close code, and a bystander client
connected to the same server is still served afterwards."""

from __future__ import annotations

import base64
import json
import os
import time
import zlib

import pytest

import rawws
from conftest import running_herald
from helpers import Bystander, http_exchange, json_error_body
from rawws import OP_BINARY, OP_CONT, OP_TEXT, RawWS, build_frame

pytestmark = pytest.mark.timeout(60)
PATH = "/connection/websocket"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_herald(tmp_path_factory.mktemp("wsbad")) as s:
        yield s


@pytest.fixture
def bystander(server):
    b = Bystander(server)
    yield b
    try:
        b.check()
    finally:
        b.close()


def open_native(server, extensions: str | None = None) -> RawWS:
    return RawWS.connect(server.host, server.port, PATH, extensions=extensions)


def connected(server, extensions: str | None = None) -> RawWS:
    """A raw connection that has sent connect and got its reply."""
    ws = open_native(server, extensions)
    ws.send_text(b'{"id":1,"connect":{}}')
    op, data = ws.recv_message()
    reply = json.loads(data.split(b"\n")[0])
    assert reply.get("id") == 1 and "connect" in reply, reply
    return ws


def assert_close(ws: RawWS, code: int, timeout: float = 5.0) -> rawws.CloseResult:
    res = ws.expect_close(timeout)
    assert res.got_close_frame, f"no Close frame (want {code}): {res}"
    assert res.code == code, f"close code {res.code} (want {code}): {res}"
    assert res.bytes_after == 0, f"server sent data after its Close frame: {res}"
    assert res.tcp_closed, "server did not close TCP"
    return res


def handshake(server, *, key=None, version="13", path=PATH, extra=None, omit=()):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    headers = [("Host", f"{server.host}:{server.port}"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)] + list(extra or [])
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers if k not in omit]
    return http_exchange(server, ("\r\n".join(lines) + "\r\n\r\n").encode())


# ----- handshake ----------------------------------------------------------------------

@pytest.mark.parametrize("version", ["8", "12", "14", "abc"])
def test_wrong_websocket_version_gets_426(server, bystander, version):
    status, headers, body, _ = handshake(server, version=version)
    assert status == 426, (status, body)
    assert headers.get("sec-websocket-version") == "13", headers
    json_error_body(body)


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_missing_websocket_version_gets_426_or_400(server, bystander, how):
    if how == "missing":
        status, headers, body, _ = handshake(server, omit=("Sec-WebSocket-Version",))
    else:
        status, headers, body, _ = handshake(server, version="")
    assert status in (400, 426), (status, body)
    json_error_body(body)


@pytest.mark.parametrize("key", [
    "", "not base64!!", base64.b64encode(b"short").decode(), base64.b64encode(os.urandom(17)).decode(),
    "AAAAAAAAAAAAAAAAAAAAAA",  # 22 chars, no padding
], ids=["empty", "not-base64", "5-bytes", "17-bytes", "no-padding"])
def test_bad_websocket_key_gets_400(server, bystander, key):
    status, headers, body, _ = handshake(server, key=key)
    assert status == 400, (status, body)
    json_error_body(body)


def test_missing_websocket_key_gets_400(server, bystander):
    status, _, body, _ = handshake(server, omit=("Sec-WebSocket-Key",))
    assert status == 400, (status, body)


def test_missing_upgrade_header_is_refused(server, bystander):
    status, _, body, _ = handshake(server, omit=("Upgrade",))
    assert status in (400, 426), (status, body)


def test_post_upgrade_is_refused(server, bystander):
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n").encode()
    status, _, body, _ = http_exchange(server, req)
    assert status in (400, 405), (status, body)


def test_echo_endpoint_is_off_by_default(server, bystander):
    status, _, body, _ = handshake(server, path="/echo")
    assert status == 404, (status, body)


def test_handshake_one_byte_at_a_time(server, bystander):
    sock = RawWS.open_socket(server.host, server.port)
    req, key = RawWS.handshake_request(server.host, server.port, PATH)
    for b in req:
        sock.sendall(bytes([b]))
    status, headers, leftover = rawws.read_http_head(sock)
    assert status == 101 and headers["sec-websocket-accept"] == rawws.accept_key(key)
    ws = RawWS(sock, headers, leftover)
    frame = build_frame(OP_TEXT, b'{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"bytewise"}}')
    ws.send_raw(frame, chunk=1)
    got = b""
    while b'"id":2' not in got:
        got += ws.recv_message()[1] + b"\n"
    replies = [json.loads(l) for l in got.split(b"\n") if l.strip()]
    assert any(r.get("id") == 1 and "connect" in r for r in replies), replies
    assert any(r.get("id") == 2 and "subscribe" in r for r in replies), replies
    ws.close_socket()


# ----- frames ------------------------------------------------------------------------------

def test_unmasked_frame_closes_1002(server, bystander):
    ws = connected(server)
    ws.send_frame(OP_TEXT, b'{"id":2,"subscribe":{"channel":"x"}}', mask=False)
    assert_close(ws, 1002)


@pytest.mark.parametrize("opcode", [3, 7, 11, 15])
def test_reserved_opcode_closes_1002(server, bystander, opcode):
    ws = connected(server)
    ws.send_frame(opcode, b"payload")
    assert_close(ws, 1002)


@pytest.mark.parametrize("rsv", [1, 2, 4])
def test_reserved_bits_close_1002(server, bystander, rsv):
    ws = connected(server)
    ws.send_frame(OP_TEXT, b'{"id":2,"subscribe":{"channel":"x"}}', rsv=rsv)
    assert_close(ws, 1002)


@pytest.mark.parametrize("payload", [b"\xff", b'{"id":2,"subscribe":{"channel":"\xed\xa0\x80"}}', b"\xc0\xaf"])
def test_invalid_utf8_closes_1007(server, bystander, payload):
    ws = connected(server)
    ws.send_text(payload)
    assert_close(ws, 1007)


def test_invalid_utf8_before_connect_closes_1007(server, bystander):
    ws = open_native(server)
    ws.send_text(b"\xfe\xff")
    assert_close(ws, 1007)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 5000])
def test_invalid_close_code_closes_1002(server, bystander, code):
    ws = connected(server)
    ws.send_close(code)
    assert_close(ws, 1002)


def test_client_close_is_echoed(server, bystander):
    ws = connected(server)
    ws.send_close(1000, b"bye")
    res = ws.expect_close(reply=False)
    assert res.got_close_frame and res.code == 1000 and res.tcp_closed, res


def test_announced_2GB_frame_closes_1009_at_once(server, bystander):
    ws = connected(server)
    rss0 = server.rss_kb()
    ws.send_raw(build_frame(OP_BINARY, b"", length=2 << 30) + b"\x00" * 1000)
    assert_close(ws, 1009, timeout=3)
    assert server.rss_kb() - rss0 < 64 * 1024, "server allocated for the announced length"


def test_announced_2GB_frame_before_connect(server, bystander):
    ws = open_native(server)
    ws.send_raw(build_frame(OP_TEXT, b"", length=2 << 30))
    assert_close(ws, 1009, timeout=3)


def test_oversized_ping_closes_1002(server, bystander):
    ws = connected(server)
    ws.send_ping(b"p" * 126)
    assert_close(ws, 1002)


def test_ping_gets_pong(server, bystander):
    ws = connected(server)
    ws.send_ping(b"are you there")
    f = ws.recv_frame()
    assert f.opcode == rawws.OP_PONG and f.payload == b"are you there", f
    ws.close_socket()


def test_frame_split_with_pauses(server, bystander):
    ws = connected(server)
    frame = build_frame(OP_TEXT, b'{"id":2,"subscribe":{"channel":"paused"}}')
    ws.send_raw(frame[:1])
    time.sleep(0.3)
    ws.send_raw(frame[1:7])
    time.sleep(0.3)
    ws.send_raw(frame[7:])
    reply = json.loads(ws.recv_message()[1].split(b"\n")[0])
    assert reply.get("id") == 2 and "subscribe" in reply, reply
    ws.close_socket()


# ----- memory bounds -------------------------------------------------------------------------

def test_flood_of_one_byte_fragments_closes_1009_with_bounded_memory(server, bystander):
    ws = connected(server)
    rss0 = server.rss_kb()
    key = b"\x00\x00\x00\x00"
    one = build_frame(OP_CONT, b" ", fin=False, mask_key=key)
    data = build_frame(OP_TEXT, b" ", fin=False, mask_key=key) + one * 200000  # 200 KB of text
    try:
        ws.send_raw(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert_close(ws, 1009, timeout=10)
    grew = server.rss_kb() - rss0
    assert grew < 32 * 1024, f"server RSS grew {grew} KiB for a 64 KiB message limit"


def test_flood_of_empty_fragments_keeps_memory_bounded(server, bystander):
    ws = connected(server)
    rss0 = server.rss_kb()
    key = b"\x00\x00\x00\x00"
    msg = b'{"id":2,"subscribe":{"channel":"fragmented"}}'
    empty = build_frame(OP_CONT, b"", fin=False, mask_key=key)
    n = 1_000_000
    ws.send_raw(build_frame(OP_TEXT, msg[:10], fin=False, mask_key=key))
    burst = empty * 10000
    peak = 0
    capped = False
    try:
        for i in range(n // 10000):
            ws.send_raw(burst)
            if i % 20 == 0:
                peak = max(peak, server.rss_kb() - rss0)
        ws.send_raw(build_frame(OP_CONT, msg[10:], mask_key=key))
    except (BrokenPipeError, ConnectionResetError):
        capped = True
    if capped:
        # Capping the fragment count is also fair, with close 1009.
        assert_close(ws, 1009)
    else:
        try:
            op, data = ws.recv_message(timeout=20)
        except AssertionError as e:
            assert "Close code=1009" in str(e), e
        else:
            reply = json.loads(data.split(b"\n")[0])
            assert reply.get("id") == 2 and "subscribe" in reply, reply
    peak = max(peak, server.rss_kb() - rss0)
    assert peak < 32 * 1024, f"server RSS grew {peak} KiB on a million empty fragments"
    ws.close_socket()


def test_compressed_frame_inflating_past_the_limit_closes_1009(server, bystander):
    ws = connected(server, extensions="permessage-deflate")
    assert ws.deflate_params is not None, "the native endpoint should negotiate permessage-deflate"
    rss0 = server.rss_kb()
    bomb = b'{"id":2,"publish":{"channel":"x","eventType":"t","payload":"' + b"A" * (50 << 20) + b'"}}'
    body = ws.send_compressed(OP_TEXT, bomb)
    assert len(body) < 100_000
    assert_close(ws, 1009, timeout=10)
    assert server.rss_kb() - rss0 < 32 * 1024, "inflate was not bounded by the message limit"


def test_compressed_commands_work(server, bystander):
    ws = connected(server, extensions="permessage-deflate")
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    if "client_no_context_takeover" in (ws.deflate_params or {}):
        comp = None
    ws.send_compressed(OP_TEXT, b'{"id":2,"subscribe":{"channel":"zipped"}}', comp)
    reply = json.loads(ws.recv_message()[1].split(b"\n")[0])
    assert reply.get("id") == 2 and "subscribe" in reply, reply
    ws.close_socket()


def test_many_bad_clients_at_once(server, bystander):
    """Twenty connections misbehaving in different ways at the same time."""
    conns = []
    for i in range(20):
        ws = connected(server)
        conns.append((ws, i % 4))
    for ws, kind in conns:
        if kind == 0:
            ws.send_frame(OP_TEXT, b"x", mask=False)
        elif kind == 1:
            ws.send_text(b"\xff")
        elif kind == 2:
            ws.send_frame(5, b"")
        else:
            ws.send_raw(build_frame(OP_BINARY, b"", length=1 << 40))
    want = {0: 1002, 1: 1007, 2: 1002, 3: 1009}
    for ws, kind in conns:
        assert_close(ws, want[kind])
