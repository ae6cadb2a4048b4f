"""RFC 6455 / RFC 7692 conformance of /echo (herald serve --echo).

Our own stand-in for the Autobahn|Testsuite fuzzingclient cases 1.* to 13.*,
one section per Autobahn category, driven by the raw client in rawws.py (and
the `websockets` library for permessage-deflate interop). Failure cases assert
the exact close code in the server's Close frame, that nothing invalid was
echoed, and that the server then closes the TCP connection.

The echo server here allows 16 MiB messages (Autobahn's 9.* sizes); the limit
itself (close 1009) is checked on a server with the default 64 KiB limit.
"""

from __future__ import annotations

import os
import struct
import time
import zlib

import pytest
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect as ws_connect

from conftest import running_herald
from rawws import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RSV1, RSV2, RSV3,
                   RawWS, build_frame, encode_length, mask_bytes, parse_deflate_response)

pytestmark = pytest.mark.timeout(60)

BIG_LIMIT = 16 * 1024 * 1024
BIG_CONFIG = f"""
[limits]
max_message_bytes = {BIG_LIMIT}
max_queue_bytes = {4 * BIG_LIMIT}
"""


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory):
    with running_herald(tmp_path_factory.mktemp("echo"), echo=True, config=BIG_CONFIG) as s:
        yield s


@pytest.fixture(scope="module")
def small_echo_server(tmp_path_factory):
    """Default limits: 65536-byte messages."""
    with running_herald(tmp_path_factory.mktemp("echo-small"), echo=True) as s:
        yield s


@pytest.fixture(autouse=True)
def _server_survives(request):
    yield
    for name in ("echo_server", "small_echo_server"):
        if name in request.fixturenames:
            request.getfixturevalue(name).assert_alive()


@pytest.fixture
def ws(echo_server):
    conn = RawWS.connect(echo_server.host, echo_server.port, "/echo")
    yield conn
    conn.close_socket()


def open_ws(server, extensions: str | None = None) -> RawWS:
    return RawWS.connect(server.host, server.port, "/echo", extensions=extensions)


# ----- assertions ------------------------------------------------------------------

def assert_echo(ws: RawWS, opcode: int, payload: bytes, timeout: float = 10.0) -> None:
    op, data = ws.recv_message(timeout)
    assert op == opcode, f"echo opcode {op} (want {opcode})"
    assert data == payload, f"echo differs: got {len(data)} bytes {data[:40]!r}, want {len(payload)} {payload[:40]!r}"


def assert_clean_close(ws: RawWS, code: int = 1000) -> None:
    """Client-initiated close: the server answers with the same code and
    closes TCP."""
    ws.send_close(code)
    res = ws.expect_close(reply=False)
    assert res.got_close_frame, res
    assert res.code == code, res
    assert not [f for f in res.frames_before if f.opcode not in (OP_PONG,)], res
    assert res.bytes_after == 0, f"server sent data after its Close frame: {res}"
    assert res.tcp_closed, "server did not close TCP after the close handshake"


def messages_of(frames) -> list[tuple[int, bytes]]:
    """Frames -> [(opcode, payload)], data fragments joined, control frames kept."""
    out, op, parts = [], None, []
    for f in frames:
        if f.opcode >= 8:
            out.append((f.opcode, f.payload))
            continue
        if op is None:
            op = f.opcode
        parts.append(f.payload)
        if f.fin:
            out.append((op, b"".join(parts)))
            op, parts = None, []
    return out


def assert_fails(ws: RawWS, code: int, before: list[tuple[int, bytes]] | None = None,
                 timeout: float = 5.0, codes: set | None = None) -> None:
    """The server fails the connection: exactly `before` (echoes, pongs) and then
    a Close frame with `code`, then it closes TCP."""
    res = ws.expect_close(timeout)
    assert res.got_close_frame, f"no Close frame (want {code}): {res}"
    want = codes or {code}
    assert res.code in want, f"close code {res.code} (want {sorted(want)}): {res}"
    got_before = messages_of(res.frames_before)
    assert got_before == (before or []), \
        f"frames before the Close: {[(o, p[:30]) for o, p in got_before]} want {[(o, p[:30]) for o, p in (before or [])]}"
    assert res.bytes_after == 0, f"server sent data after its Close frame: {res}"
    assert res.tcp_closed, "server did not close TCP after failing the connection"


# ===== 1. Framing ======================================================================

SIZES = [0, 125, 126, 127, 128, 65535, 65536]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_1_echo_lengths(ws, opcode, size):
    payload = (b"*" * size) if opcode == OP_TEXT else os.urandom(size)
    ws.send_frame(opcode, payload)
    assert_echo(ws, opcode, payload)
    assert_clean_close(ws)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_1_echo_65536_written_in_997_byte_chunks(ws, opcode):
    payload = b"\xfe" * 65536 if opcode == OP_BINARY else b"x" * 65536
    ws.send_frame(opcode, payload, chunk=997)
    assert_echo(ws, opcode, payload)
    assert_clean_close(ws)


@pytest.mark.parametrize("encoding,size", [("16", 5), ("64", 5), ("64", 300)])
def test_1_non_minimal_length_encodings_are_read_correctly(ws, encoding, size):
    payload = b"m" * size
    ws.send_frame(OP_TEXT, payload, length_encoding=encoding)
    assert_echo(ws, OP_TEXT, payload)
    assert_clean_close(ws)


def test_1_server_frames_are_unmasked(ws):
    ws.send_text(b"check mask")
    f = ws.recv_frame()
    assert f.opcode == OP_TEXT and not f.masked and f.payload == b"check mask"
    assert_clean_close(ws)


def test_1_unmasked_client_frame_fails_1002(ws):
    ws.send_frame(OP_TEXT, b"not masked", mask=False)
    assert_fails(ws, 1002)


def test_1_unmasked_ping_fails_1002(ws):
    ws.send_frame(OP_PING, b"x", mask=False)
    assert_fails(ws, 1002)


# ===== 2. Pings and pongs ===================================================================

@pytest.mark.parametrize("payload", [b"", b"Hello, world!", bytes([0, 255, 254, 253, 252, 251, 0, 255]),
                                     b"\xfe" * 125], ids=["empty", "text", "binary", "125"])
def test_2_ping_gets_pong_with_same_payload(ws, payload):
    ws.send_ping(payload)
    f = ws.recv_frame()
    assert f.opcode == OP_PONG and f.fin and f.payload == payload, f
    assert_clean_close(ws)


def test_2_ping_125_bytes_written_one_byte_at_a_time(ws):
    payload = b"\xfe" * 125
    ws.send_ping(payload, chunk=1)
    f = ws.recv_frame()
    assert f.opcode == OP_PONG and f.payload == payload
    assert_clean_close(ws)


def test_2_ping_126_bytes_fails_1002(ws):
    ws.send_ping(b"\xfe" * 126)
    assert_fails(ws, 1002)


def test_2_unsolicited_pongs_are_ignored(ws):
    ws.send_pong(b"")
    ws.send_pong(b"unsolicited pong payload")
    ws.send_text(b"after pongs")
    f = ws.recv_frame()
    assert f.opcode == OP_TEXT and f.payload == b"after pongs", f
    assert_clean_close(ws)


def test_2_unsolicited_pong_then_ping(ws):
    ws.send_pong(b"unsolicited")
    ws.send_ping(b"ping payload")
    f = ws.recv_frame()
    assert f.opcode == OP_PONG and f.payload == b"ping payload", f
    assert_clean_close(ws)


@pytest.mark.parametrize("chunk", [None, 1], ids=["whole", "bytewise"])
def test_2_ten_pings_each_answered_in_order(ws, chunk):
    data = b"".join(build_frame(OP_PING, f"payload-{i}".encode()) for i in range(10))
    ws.send_raw(data, chunk=chunk)
    for i in range(10):
        f = ws.recv_frame()
        assert f.opcode == OP_PONG and f.payload == f"payload-{i}".encode(), (i, f)
    assert_clean_close(ws)


# ===== 3. Reserved bits =====================================================================

@pytest.mark.parametrize("rsv", [1, 2, 3, 4, 5, 6, 7])
def test_3_reserved_bits_on_text_fail_1002(ws, rsv):
    ws.send_frame(OP_TEXT, b"Hello", rsv=rsv)
    assert_fails(ws, 1002)


def test_3_rsv2_after_valid_text_then_ping(ws):
    ws.send_text(b"Hello")
    ws.send_frame(OP_TEXT, b"Hello", rsv=RSV2)
    ws.send_ping(b"Hello")
    assert_fails(ws, 1002, before=[(OP_TEXT, b"Hello")])


def test_3_rsv3_bytewise_between_valid_text_and_ping(ws):
    ws.send_text(b"Hello")
    ws.send_frame(OP_TEXT, b"Hello", rsv=RSV2 | RSV3, chunk=1)
    ws.send_ping(b"Hello")
    assert_fails(ws, 1002, before=[(OP_TEXT, b"Hello")])


@pytest.mark.parametrize("opcode,rsv", [(OP_BINARY, 5), (OP_PING, 6), (OP_CLOSE, 7), (OP_PONG, 1)],
                         ids=["binary", "ping", "close", "pong"])
def test_3_reserved_bits_on_other_frames_fail_1002(ws, opcode, rsv):
    payload = struct.pack("!H", 1000) if opcode == OP_CLOSE else b"\x00\xff\xfe\xfd"
    ws.send_frame(opcode, payload, rsv=rsv)
    assert_fails(ws, 1002)


# ===== 4. Reserved opcodes ====================================================================

@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_4_reserved_opcode_fails_1002(ws, opcode):
    ws.send_frame(opcode, b"")
    assert_fails(ws, 1002)


@pytest.mark.parametrize("opcode", [4, 11])
def test_4_reserved_opcode_with_payload_after_valid_text(ws, opcode):
    ws.send_text(b"Hello")
    ws.send_frame(opcode, b"reserved payload")
    ws.send_ping(b"")
    assert_fails(ws, 1002, before=[(OP_TEXT, b"Hello")])


# ===== 5. Fragmentation ==========================================================================

@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG], ids=["ping", "pong"])
def test_5_fragmented_control_frame_fails_1002(ws, opcode):
    ws.send_raw(build_frame(opcode, b"frag1", fin=False) + build_frame(OP_CONT, b"frag2"))
    assert_fails(ws, 1002)


def test_5_fragmented_close_fails_1002(ws):
    ws.send_raw(build_frame(OP_CLOSE, struct.pack("!H", 1000), fin=False))
    assert_fails(ws, 1002)


@pytest.mark.parametrize("chunk", [None, 1], ids=["whole", "bytewise"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_5_two_fragments(ws, opcode, chunk):
    ws.send_raw(build_frame(opcode, b"fragment1", fin=False) + build_frame(OP_CONT, b"fragment2"), chunk=chunk)
    assert_echo(ws, opcode, b"fragment1fragment2")
    assert_clean_close(ws)


@pytest.mark.parametrize("chunk", [None, 1], ids=["whole", "bytewise"])
def test_5_ping_between_fragments(ws, chunk):
    data = (build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_PING, b"ping payload")
            + build_frame(OP_CONT, b"fragment2"))
    ws.send_raw(data, chunk=chunk)
    f = ws.recv_frame()
    assert f.opcode == OP_PONG and f.payload == b"ping payload", f
    assert_echo(ws, OP_TEXT, b"fragment1fragment2")
    assert_clean_close(ws)


def test_5_pong_between_fragments_is_ignored(ws):
    ws.send_raw(build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_PONG, b"pong")
                + build_frame(OP_CONT, b"fragment2"))
    assert_echo(ws, OP_TEXT, b"fragment1fragment2")
    assert_clean_close(ws)


@pytest.mark.parametrize("fin", [True, False], ids=["fin", "nofin"])
@pytest.mark.parametrize("chunk", [None, 1], ids=["whole", "bytewise"])
def test_5_continuation_without_start_fails_1002(ws, fin, chunk):
    ws.send_raw(build_frame(OP_CONT, b"non-continuation payload", fin=fin), chunk=chunk)
    ws.send_text(b"Hello, world!")
    assert_fails(ws, 1002)


def test_5_continuation_after_finished_message_fails_1002(ws):
    ws.send_raw(build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_CONT, b"fragment2")
                + build_frame(OP_CONT, b"fragment3", fin=False) + build_frame(OP_CONT, b"fragment4"))
    assert_fails(ws, 1002, before=[(OP_TEXT, b"fragment1fragment2")])


def test_5_new_message_inside_fragmented_message_fails_1002(ws):
    ws.send_raw(build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_TEXT, b"fragment2")
                + build_frame(OP_CONT, b"fragment3"))
    assert_fails(ws, 1002)


def test_5_five_fragments_with_pings_and_pauses(ws):
    ws.send_frame(OP_TEXT, b"fragment1", fin=False)
    ws.send_frame(OP_CONT, b"fragment2", fin=False)
    ws.send_ping(b"pongme 1!")
    assert ws.recv_frame().payload == b"pongme 1!"
    time.sleep(0.5)
    ws.send_frame(OP_CONT, b"fragment3", fin=False)
    ws.send_frame(OP_CONT, b"fragment4", fin=False)
    ws.send_ping(b"pongme 2!")
    assert ws.recv_frame().payload == b"pongme 2!"
    time.sleep(0.5)
    ws.send_frame(OP_CONT, b"fragment5")
    assert_echo(ws, OP_TEXT, b"fragment1fragment2fragment3fragment4fragment5")
    assert_clean_close(ws)


def test_5_one_byte_fragments(ws):
    payload = os.urandom(1000)
    ws.send_fragments(OP_BINARY, [payload[i : i + 1] for i in range(len(payload))])
    assert_echo(ws, OP_BINARY, payload)
    assert_clean_close(ws)


def test_5_empty_fragments(ws):
    ws.send_fragments(OP_TEXT, [b"", b"", b""])
    assert_echo(ws, OP_TEXT, b"")
    ws.send_fragments(OP_TEXT, [b"", b"middle", b""])
    assert_echo(ws, OP_TEXT, b"middle")
    assert_clean_close(ws)


# ===== 6. UTF-8 handling =============================================================================

VALID_UTF8 = {
    "hello-mu": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "kosme": "κόσμε".encode(),
    "first-1": b"\x00",
    "first-2": b"\xc2\x80",
    "first-3": b"\xe0\xa0\x80",
    "first-4": b"\xf0\x90\x80\x80",
    "last-1": b"\x7f",
    "last-2": b"\xdf\xbf",
    "last-3": b"\xef\xbf\xbf",
    "max": b"\xf4\x8f\xbf\xbf",
    "before-surrogates": b"\xed\x9f\xbf",
    "after-surrogates": b"\xee\x80\x80",
    "ufffd": b"\xef\xbf\xbd",
    "nonchar-fffe": b"\xef\xbf\xbe",
    "bom": b"\xef\xbb\xbf",
    "emoji": "😀 ✓ ü".encode(),
    "mixed-long": ("ascii κόσμε 日本語 🎉 " * 50).encode(),
}

INVALID_UTF8 = {
    "surrogate-in-kosme": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
    "5-byte": b"\xf8\x88\x80\x80\x80",
    "6-byte": b"\xfc\x84\x80\x80\x80\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "f5": b"\xf5\x80\x80\x80",
    "lone-continuation": b"\x80",
    "lone-bf": b"\xbf",
    "continuations": b"\x80\xbf\x80\xbf",
    "lone-start-space": b"\xc0 ",
    "lone-e0-space": b"\xe0 ",
    "overlong-slash-2": b"\xc0\xaf",
    "overlong-slash-3": b"\xe0\x80\xaf",
    "overlong-slash-4": b"\xf0\x80\x80\xaf",
    "overlong-max-2": b"\xc1\xbf",
    "overlong-max-3": b"\xe0\x9f\xbf",
    "overlong-max-4": b"\xf0\x8f\xbf\xbf",
    "surrogate-d800": b"\xed\xa0\x80",
    "surrogate-dfff": b"\xed\xbf\xbf",
    "surrogate-pair": b"\xed\xa0\x80\xed\xb0\x80",
    "fe": b"\xfe",
    "ff": b"\xff",
    "fe-fe-ff-ff": b"\xfe\xfe\xff\xff",
    "truncated-at-end": b"ok \xe2\x82",
    "truncated-4-at-end": b"ok \xf0\x9f\x98",
    "cesu-like": b"\xed\xa0\xbd\xed\xb8\x80",
}


@pytest.mark.parametrize("mode", ["frame", "bytewise-write", "byte-fragments"])
@pytest.mark.parametrize("name", list(VALID_UTF8))
def test_6_valid_utf8_is_echoed(ws, name, mode):
    payload = VALID_UTF8[name]
    if mode == "frame":
        ws.send_text(payload)
    elif mode == "bytewise-write":
        ws.send_text(payload, chunk=1)
    else:
        ws.send_fragments(OP_TEXT, [payload[i : i + 1] for i in range(len(payload))] or [b""])
    assert_echo(ws, OP_TEXT, payload)
    assert_clean_close(ws)


@pytest.mark.parametrize("mode", ["frame", "byte-fragments"])
@pytest.mark.parametrize("name", list(INVALID_UTF8))
def test_6_invalid_utf8_fails_1007(ws, name, mode):
    payload = INVALID_UTF8[name]
    if mode == "frame":
        ws.send_text(payload)
    else:
        ws.send_fragments(OP_TEXT, [payload[i : i + 1] for i in range(len(payload))])
    assert_fails(ws, 1007)


def test_6_binary_messages_are_not_validated(ws):
    payload = b"\xff\xfe\xc0\xaf\xed\xa0\x80"
    ws.send_binary(payload)
    assert_echo(ws, OP_BINARY, payload)
    assert_clean_close(ws)


def test_6_fail_fast_on_invalid_fragment_before_message_ends(ws):
    """6.4.1/6.4.2: the second fragment is invalid; the server closes without
    waiting for the rest of the message."""
    ws.send_frame(OP_TEXT, "κόσμε".encode(), fin=False)
    ws.send_frame(OP_CONT, b"\xf4\x90\x80\x80", fin=False)
    t0 = time.monotonic()
    assert_fails(ws, 1007, timeout=3)
    assert time.monotonic() - t0 < 2.0


def test_6_fail_fast_on_invalid_bytes_before_frame_ends(ws):
    """6.4.3/6.4.4: a single text frame whose payload turns invalid before
    all of it has arrived; the server should not wait for the rest."""
    valid = "κόσμε".encode()
    bad = b"\xf4\x90\x80\x80"
    rest = b"edited" * 10
    frame = build_frame(OP_TEXT, valid + bad + rest)
    head_len = len(frame) - len(valid + bad + rest)
    ws.send_raw(frame[: head_len + len(valid) + len(bad)])
    assert_fails(ws, 1007, timeout=3)


def test_6_multibyte_characters_split_across_fragment_boundaries(ws):
    text = "€𝄞κόσμε€𝄞".encode()
    # Fragment at every odd place, splitting most characters.
    pieces = [text[0:1], text[1:5], text[5:6], text[6:13], text[13:]]
    ws.send_fragments(OP_TEXT, pieces)
    assert_echo(ws, OP_TEXT, text)
    assert_clean_close(ws)


# ===== 7. Close handling ===============================================================================

def test_7_close_after_text_echo(ws):
    ws.send_text(b"Hello World!")
    assert_echo(ws, OP_TEXT, b"Hello World!")
    assert_clean_close(ws)


def test_7_frames_after_close_are_not_processed(ws):
    ws.send_raw(build_frame(OP_CLOSE, struct.pack("!H", 1000)) + build_frame(OP_TEXT, b"after close")
                + build_frame(OP_PING, b"after close") + build_frame(OP_CLOSE, struct.pack("!H", 1000)))
    res = ws.expect_close(reply=False)
    assert res.got_close_frame and res.code == 1000, res
    assert res.frames_before == [], res
    assert res.bytes_after == 0, f"frames after the Close were answered: {res}"
    assert res.tcp_closed


def test_7_close_in_the_middle_of_a_fragmented_message(ws):
    ws.send_raw(build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_CLOSE, struct.pack("!H", 1000))
                + build_frame(OP_CONT, b"fragment2"))
    res = ws.expect_close(reply=False)
    assert res.got_close_frame and res.code == 1000 and res.frames_before == [], res


def test_7_large_message_then_close_then_ping(ws):
    payload = b"x" * 262144
    ws.send_raw(build_frame(OP_TEXT, payload) + build_frame(OP_CLOSE, struct.pack("!H", 1000))
                + build_frame(OP_PING, b"no pong expected"))
    res = ws.expect_close(reply=False, timeout=10)
    assert res.got_close_frame and res.code == 1000, res
    assert messages_of(res.frames_before) == [(OP_TEXT, payload)], "the echo must come before the Close, no pong"
    assert res.bytes_after == 0, f"the ping after the Close was answered: {res}"


def test_7_close_without_payload(ws):
    ws.send_close(None)
    res = ws.expect_close(reply=False)
    assert res.got_close_frame and res.code in (None, 1000), res
    assert res.tcp_closed


def test_7_close_with_one_byte_payload_fails_1002(ws):
    ws.send_frame(OP_CLOSE, b"\x03")
    assert_fails(ws, 1002)


@pytest.mark.parametrize("reason", [b"", b"Hello World!", b"*" * 123], ids=["no-reason", "reason", "123"])
def test_7_close_1000_with_reason(ws, reason):
    ws.send_close(1000, reason)
    res = ws.expect_close(reply=False)
    assert res.got_close_frame and res.code == 1000 and res.tcp_closed, res


def test_7_close_payload_of_126_bytes_fails_1002(ws):
    ws.send_close(1000, b"*" * 124)
    assert_fails(ws, 1002)


def test_7_close_reason_invalid_utf8_fails_1007(ws):
    ws.send_close(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")
    assert_fails(ws, 1007)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999])
def test_7_valid_close_codes_are_echoed(ws, code):
    ws.send_close(code, b"bye")
    res = ws.expect_close(reply=False)
    assert res.got_close_frame, res
    assert res.code == code, f"close code {res.code}, want the echoed {code}"
    assert res.tcp_closed


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_7_invalid_close_codes_fail_1002(ws, code):
    ws.send_close(code)
    assert_fails(ws, 1002)


def test_7_server_closes_tcp_after_close_handshake_even_if_client_lingers(ws):
    ws.send_close(1000)
    f = ws.recv_frame()
    assert f.opcode == OP_CLOSE and f.close_code == 1000
    # We never send anything else nor close our side: the server must.
    assert ws.wait_eof(5.0), "server kept the TCP connection open after the close handshake"


# ===== 9. Limits and performance ==========================================================================

@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", [64 * 1024, 256 * 1024, 1 << 20, 4 << 20, 16 << 20],
                         ids=["64K", "256K", "1M", "4M", "16M"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_9_large_messages(ws, opcode, size):
    payload = (b"BAsd7&jh23" * (size // 10 + 1))[:size] if opcode == OP_TEXT else os.urandom(size)
    ws.send_frame(opcode, payload)
    assert_echo(ws, opcode, payload, timeout=60)
    assert_clean_close(ws)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("frag", [64, 256, 1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20])
def test_9_4M_message_in_fragments(ws, frag):
    size = 4 << 20
    payload = os.urandom(size)
    out = bytearray()
    key = b"\x01\x02\x03\x04"
    # Mask the whole payload once; the key repeats every 4 bytes and every
    # fragment size here is a multiple of 4, so slices stay correctly masked.
    masked = mask_bytes(payload, key)
    n = size // frag
    for i in range(n):
        op = OP_BINARY if i == 0 else OP_CONT
        fin = i == n - 1
        l7, ext = encode_length(frag)
        out += bytes([(0x80 if fin else 0) | op, 0x80 | l7]) + ext + key + masked[i * frag : (i + 1) * frag]
    ws.send_raw(bytes(out))
    assert_echo(ws, OP_BINARY, payload, timeout=60)
    assert_clean_close(ws)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("chunk", [64, 1024, 65536, 131072])
def test_9_1M_message_written_in_chunks(ws, chunk):
    payload = b"q" * (1 << 20)
    ws.send_text(payload, chunk=chunk)
    assert_echo(ws, OP_TEXT, payload, timeout=60)
    assert_clean_close(ws)


@pytest.mark.parametrize("size", [0, 16, 64, 256, 1024, 4096])
def test_9_1000_messages_round_trip_one_by_one(ws, size):
    payload = b"*" * size
    frame = build_frame(OP_TEXT, payload)
    t0 = time.monotonic()
    for _ in range(1000):
        ws.send_raw(frame)
        assert_echo(ws, OP_TEXT, payload)
    assert time.monotonic() - t0 < 20
    assert_clean_close(ws)


def test_9_1000_binary_messages_pipelined(ws):
    msgs = [os.urandom(i % 300) for i in range(1000)]
    ws.send_raw(b"".join(build_frame(OP_BINARY, m) for m in msgs))
    for m in msgs:
        assert_echo(ws, OP_BINARY, m)
    assert_clean_close(ws)


# ----- limits with the default 64 KiB message size --------------------------------------------------

@pytest.fixture
def small_ws(small_echo_server):
    conn = open_ws(small_echo_server)
    yield conn
    conn.close_socket()


def test_9_message_of_exactly_the_limit_is_accepted(small_ws):
    payload = b"L" * 65536
    small_ws.send_binary(payload)
    assert_echo(small_ws, OP_BINARY, payload)
    assert_clean_close(small_ws)


def test_9_message_over_the_limit_fails_1009(small_ws):
    small_ws.send_binary(b"L" * 65537)
    assert_fails(small_ws, 1009)


def test_9_announced_2GB_frame_fails_1009_before_any_payload(small_ws):
    small_ws.send_raw(build_frame(OP_BINARY, b"", length=2 << 30))
    assert_fails(small_ws, 1009, timeout=3)


def test_9_announced_length_with_high_bit_set_fails(small_ws):
    small_ws.send_raw(build_frame(OP_BINARY, b"", length=(1 << 63) + 5))
    assert_fails(small_ws, 1002, codes={1002, 1009}, timeout=3)


def test_9_fragments_adding_up_over_the_limit_fail_1009(small_ws):
    small_ws.send_frame(OP_TEXT, b"a" * 40000, fin=False)
    small_ws.send_frame(OP_CONT, b"b" * 20000, fin=False)
    small_ws.send_frame(OP_CONT, b"c" * 10000, fin=False)
    assert_fails(small_ws, 1009, timeout=3)


# ===== 10. Auto-fragmentation ===========================================================================

@pytest.mark.parametrize("frag", [1300, 100, 7])
def test_10_message_in_many_fragments_echoed_as_one(ws, frag):
    payload = os.urandom(65536)
    ws.send_fragments(OP_BINARY, [payload[i : i + frag] for i in range(0, len(payload), frag)])
    assert_echo(ws, OP_BINARY, payload)
    assert_clean_close(ws)


# ===== 12/13. permessage-deflate =========================================================================

def check_deflate_response(offer: str, response: dict) -> None:
    """RFC 7692 section 7.1: what the server may answer to `offer` (the
    offer it accepted must be one of the comma-separated ones)."""
    known = {"server_no_context_takeover", "client_no_context_takeover",
             "server_max_window_bits", "client_max_window_bits"}
    assert set(response) <= known, f"unknown parameters in {response}"
    for flag in ("server_no_context_takeover", "client_no_context_takeover"):
        if flag in response:
            assert response[flag] is None, f"{flag} takes no value: {response}"
    for bits in ("server_max_window_bits", "client_max_window_bits"):
        if bits in response:
            assert response[bits] is not None and response[bits].isdigit(), response
            assert 8 <= int(response[bits]) <= 15, response
    offers = [parse_deflate_response(o.strip()) for o in offer.split(",")]
    ok = []
    for o in offers:
        good = True
        if "server_no_context_takeover" in o and "server_no_context_takeover" not in response:
            good = False
        if "client_max_window_bits" in response:
            if "client_max_window_bits" not in o:
                good = False
            elif o["client_max_window_bits"] and int(response["client_max_window_bits"]) > int(o["client_max_window_bits"]):
                good = False
        if "server_max_window_bits" in o:
            if "server_max_window_bits" not in response or \
                    int(response["server_max_window_bits"]) > int(o["server_max_window_bits"]):
                good = False
        ok.append(good)
    assert any(ok), f"response {response} fits none of the offers {offers}"


def round_trip_compressed(conn: RawWS, messages: list[tuple[int, bytes]]) -> None:
    params = conn.deflate_params
    client_bits = int(params.get("client_max_window_bits") or 15)
    fresh_each_time = "client_no_context_takeover" in params
    # zlib cannot compress raw deflate with an 8-bit window: with 8 we
    # compress without back-references (Huffman only), valid for any window.
    def new_compressor():
        if client_bits == 8:
            return zlib.compressobj(6, zlib.DEFLATED, -9, 8, zlib.Z_HUFFMAN_ONLY)
        return zlib.compressobj(6, zlib.DEFLATED, -client_bits)
    comp = new_compressor()
    for opcode, payload in messages:
        if fresh_each_time:
            comp = new_compressor()
        conn.send_compressed(opcode, payload, comp)
        assert_echo(conn, opcode, payload)


def sample_messages() -> list[tuple[int, bytes]]:
    rnd = os.urandom(2000)
    text = ("Herald κόσμε " * 500).encode()
    return [(OP_TEXT, b""), (OP_TEXT, b"Hello"), (OP_TEXT, text), (OP_TEXT, text),
            (OP_BINARY, rnd), (OP_BINARY, rnd), (OP_BINARY, bytes(70000 // 2)), (OP_TEXT, b"x" * 300)]


OFFERS = [
    "permessage-deflate",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits=9",
    "permessage-deflate; client_max_window_bits=15",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits=12",
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=15",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
    "server_max_window_bits=9; client_max_window_bits=9",
    "permessage-deflate; client_max_window_bits=8; client_no_context_takeover, "
    "permessage-deflate; client_no_context_takeover, permessage-deflate",
]


@pytest.mark.parametrize("offer", OFFERS)
def test_13_offer_is_answered_per_rfc7692_and_messages_round_trip(echo_server, offer):
    conn = open_ws(echo_server, offer)
    try:
        ext = conn.headers.get("sec-websocket-extensions")
        assert ext, f"server declined a valid offer {offer!r}"
        check_deflate_response(offer, conn.deflate_params)
        round_trip_compressed(conn, sample_messages())
        # Uncompressed messages stay legal on a deflate connection.
        conn.send_text(b"plain text, RSV1 clear")
        assert_echo(conn, OP_TEXT, b"plain text, RSV1 clear")
        assert_clean_close(conn)
    finally:
        conn.close_socket()


def test_13_server_window_bits_8_is_declined_or_accepted_as_8(echo_server):
    """zlib cannot deflate with an 8-bit window; a server must then decline
    the offer (or honour 8 exactly), never answer with a larger value."""
    offer = "permessage-deflate; server_max_window_bits=8"
    conn = open_ws(echo_server, offer)
    try:
        if conn.deflate_params is None:
            conn.send_text(b"no deflate")
            assert_echo(conn, OP_TEXT, b"no deflate")
        else:
            check_deflate_response(offer, conn.deflate_params)
            payload = os.urandom(200) * 20
            conn.send_binary(payload)
            assert_echo(conn, OP_BINARY, payload)
        assert_clean_close(conn)
    finally:
        conn.close_socket()


@pytest.mark.parametrize("offer", [
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; client_max_window_bits=abc",
    "permessage-deflate; unknown_parameter",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "x-webkit-deflate-frame",
])
def test_13_invalid_offers_are_declined(echo_server, offer):
    conn = open_ws(echo_server, offer)
    try:
        assert "sec-websocket-extensions" not in conn.headers, conn.headers
        conn.send_text(b"uncompressed")
        assert_echo(conn, OP_TEXT, b"uncompressed")
        # Without deflate, RSV1 is a protocol error.
        conn.send_frame(OP_TEXT, b"x", rsv=RSV1)
        assert_fails(conn, 1002)
    finally:
        conn.close_socket()


def test_13_invalid_offer_falls_back_to_the_next_one(echo_server):
    offer = "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover"
    conn = open_ws(echo_server, offer)
    try:
        assert conn.deflate_params is not None, conn.headers
        assert "server_max_window_bits" not in conn.deflate_params or \
            int(conn.deflate_params["server_max_window_bits"]) >= 8
        round_trip_compressed(conn, sample_messages())
        assert_clean_close(conn)
    finally:
        conn.close_socket()


def test_13_compressed_message_in_fragments(echo_server):
    conn = open_ws(echo_server, "permessage-deflate")
    try:
        payload = ("fragmented and compressed " * 1000).encode()
        conn.send_compressed(OP_TEXT, payload, fragments=7)
        assert_echo(conn, OP_TEXT, payload)
        assert_clean_close(conn)
    finally:
        conn.close_socket()


def test_13_rsv1_on_continuation_fails_1002(echo_server):
    conn = open_ws(echo_server, "permessage-deflate")
    try:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = (c.compress(b"hello hello hello") + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
        conn.send_raw(build_frame(OP_TEXT, body[:3], fin=False, rsv=RSV1)
                      + build_frame(OP_CONT, body[3:], rsv=RSV1))
        assert_fails(conn, 1002)
    finally:
        conn.close_socket()


def test_13_rsv1_on_control_frame_fails_1002(echo_server):
    conn = open_ws(echo_server, "permessage-deflate")
    try:
        conn.send_frame(OP_PING, b"compressed?", rsv=RSV1)
        assert_fails(conn, 1002)
    finally:
        conn.close_socket()


def test_13_corrupt_deflate_data_fails(echo_server):
    conn = open_ws(echo_server, "permessage-deflate")
    try:
        conn.send_frame(OP_BINARY, b"\xff\xff\xff\xff\xff\xff not deflate", rsv=RSV1)
        assert_fails(conn, 1007, codes={1002, 1007})
    finally:
        conn.close_socket()


def test_13_compressed_invalid_utf8_fails_1007(echo_server):
    conn = open_ws(echo_server, "permessage-deflate")
    try:
        conn.send_compressed(OP_TEXT, b"valid then \xed\xa0\x80 invalid")
        assert_fails(conn, 1007)
    finally:
        conn.close_socket()


def test_13_compressed_message_inflating_past_the_limit_fails_1009(small_echo_server):
    conn = open_ws(small_echo_server, "permessage-deflate")
    try:
        bomb = bytes(20 * 1024 * 1024)  # compresses to ~20 KB
        body = conn.send_compressed(OP_BINARY, bomb)
        assert len(body) < 65536
        assert_fails(conn, 1009, timeout=5)
    finally:
        conn.close_socket()
    small_echo_server.assert_alive()


def test_13_compressed_message_of_exactly_the_limit_is_accepted(small_echo_server):
    conn = open_ws(small_echo_server, "permessage-deflate")
    try:
        payload = bytes(65536)
        conn.send_compressed(OP_BINARY, payload)
        assert_echo(conn, OP_BINARY, payload)
        assert_clean_close(conn)
    finally:
        conn.close_socket()


def ws_lib_factory(**kw):
    return ClientPerMessageDeflateFactory(**kw)


@pytest.mark.parametrize("params", [
    {},
    {"client_no_context_takeover": True},
    {"server_no_context_takeover": True},
    {"server_max_window_bits": 10, "client_max_window_bits": 11},
    {"server_no_context_takeover": True, "client_no_context_takeover": True,
     "server_max_window_bits": 9, "client_max_window_bits": 9},
], ids=["default", "client-nct", "server-nct", "bits", "all"])
def test_12_websockets_library_with_compression_round_trips(echo_server, params):
    """12.*: many compressed messages of many sizes through a real client."""
    with ws_connect(echo_server.ws_url("/echo"), proxy=None, extensions=[ws_lib_factory(**params)],
                    compression=None, max_size=None, ping_interval=None, open_timeout=5) as c:
        ext = c.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ext.startswith("permessage-deflate"), c.response.headers
        for key, value in params.items():
            if key.endswith("no_context_takeover"):
                if key.startswith("server"):
                    assert key in ext, ext
        for size in (16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072):
            for i in range(10):
                text = ("ab" * (size // 2 + i))[: size]
                c.send(text)
                assert c.recv(timeout=10) == text
                data = os.urandom(size // 2) * 2
                c.send(data)
                assert c.recv(timeout=10) == data
