"""A raw-socket WebSocket client for conformance and bad-input tests.

Unlike a real client library, it will send anything: any opcode, any RSV
bits, masked or not, any length encoding (including lengths that lie), and
it can split its writes at any byte. It reads the server's frames one by one
without judging them, so a test can assert exactly what the server sent,
down to the close code in the Close frame.

Blocking sockets with timeouts; one RawWS per connection; not thread-safe.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

RSV1 = 4
RSV2 = 2
RSV3 = 1

DEFLATE_TAIL = b"\x00\x00\xff\xff"


class Closed(Exception):
    """The TCP connection ended (EOF or reset) before the expected frame."""


@dataclass
class Frame:
    fin: bool
    rsv: int  # 3 bits: RSV1=4, RSV2=2, RSV3=1
    opcode: int
    payload: bytes
    masked: bool = False

    @property
    def close_code(self) -> int | None:
        assert self.opcode == OP_CLOSE
        if len(self.payload) >= 2:
            return struct.unpack("!H", self.payload[:2])[0]
        return None

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:]


def accept_key(key: str | bytes) -> str:
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def encode_length(n: int, encoding: str | None = None) -> tuple[int, bytes]:
    """Returns (7-bit field, extended bytes). encoding forces '7', '16' or '64'."""
    if encoding is None:
        encoding = "7" if n < 126 else ("16" if n < 65536 else "64")
    if encoding == "7":
        assert n < 126
        return n, b""
    if encoding == "16":
        return 126, struct.pack("!H", n)
    if encoding == "64":
        return 127, struct.pack("!Q", n)
    raise ValueError(encoding)


def mask_bytes(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    # XOR with the key repeated, done on big integers for speed.
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    mask_key: bytes | None = None,
    length: int | None = None,
    length_encoding: str | None = None,
) -> bytes:
    """Builds one frame. `length` overrides the announced payload length (to
    lie about it); `length_encoding` forces the 7/16/64-bit form."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    announced = len(payload) if length is None else length
    l7, ext = encode_length(announced, length_encoding)
    b1 = (0x80 if mask else 0) | l7
    head = bytes([b0, b1]) + ext
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class FrameReader:
    """Incremental parser for server frames (accepts masked ones too, so a
    masking server is detected by tests rather than crashing the reader)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next(self) -> Frame | None:
        buf = self.buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key = bytes(buf[pos : pos + 4])
            pos += 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos : pos + n])
        if masked:
            payload = mask_bytes(payload, key)
        del buf[: pos + n]
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload, masked)


@dataclass
class CloseResult:
    """What the server did when a test expected it to close the connection."""

    code: int | None  # close code in the server's Close frame (None: no code)
    reason: bytes
    got_close_frame: bool
    frames_before: list = field(default_factory=list)  # frames before the Close
    tcp_closed: bool = False  # the server closed TCP after its Close frame
    bytes_after: int = 0  # bytes the server sent after its Close frame (must be 0)

    def __repr__(self) -> str:
        kinds = [(f.opcode, len(f.payload)) for f in self.frames_before]
        return (
            f"CloseResult(code={self.code}, reason={self.reason!r}, "
            f"got_close_frame={self.got_close_frame}, tcp_closed={self.tcp_closed}, bytes_after={self.bytes_after}, "
            f"frames_before={kinds[:10]}{'...' if len(kinds) > 10 else ''})"
        )


class RawWS:
    def __init__(self, sock: socket.socket, response_headers: dict, leftover: bytes):
        self.sock = sock
        self.headers = response_headers  # lower-case names
        self.reader = FrameReader()
        self.reader.feed(leftover)
        self.inflater = None  # zlib decompressobj when deflate was negotiated
        self.deflate_params: dict | None = None
        self.server_no_context_takeover = False
        self.inflate_wbits = -15
        self.bytes_after_close = 0

    # ----- connection -------------------------------------------------------

    @staticmethod
    def open_socket(host: str, port: int, timeout: float = 5.0, rcvbuf: int | None = None) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        s.connect((host, port))
        return s

    @staticmethod
    def handshake_request(host: str, port: int, path: str, key: str | None = None,
                          version: str = "13", extensions: str | None = None,
                          extra_headers: list[tuple[str, str]] | None = None) -> tuple[bytes, str]:
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            f"Sec-WebSocket-Version: {version}",
        ]
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        for name, value in extra_headers or []:
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode(), key

    @classmethod
    def connect(cls, host: str, port: int, path: str = "/echo", *, extensions: str | None = None,
                timeout: float = 5.0, rcvbuf: int | None = None) -> "RawWS":
        """Opens a WebSocket; raises AssertionError unless the server answers
        101 with the right Sec-WebSocket-Accept."""
        sock = cls.open_socket(host, port, timeout, rcvbuf)
        req, key = cls.handshake_request(host, port, path, extensions=extensions)
        sock.sendall(req)
        status, headers, leftover = read_http_head(sock, timeout)
        if status != 101:
            sock.close()
            raise AssertionError(f"handshake to {path} got status {status}, headers {headers}")
        assert headers.get("upgrade", "").lower() == "websocket", headers
        assert "upgrade" in headers.get("connection", "").lower(), headers
        assert headers.get("sec-websocket-accept") == accept_key(key), headers
        ws = cls(sock, headers, leftover)
        ext = headers.get("sec-websocket-extensions")
        if ext:
            ws.deflate_params = parse_deflate_response(ext)
            ws.server_no_context_takeover = "server_no_context_takeover" in ws.deflate_params
            ws.inflate_wbits = -int(ws.deflate_params.get("server_max_window_bits") or 15)
            ws.inflater = zlib.decompressobj(ws.inflate_wbits)
        return ws

    def close_socket(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # ----- sending ----------------------------------------------------------

    def send_raw(self, data: bytes, chunk: int | None = None, delay: float = 0.0) -> None:
        """Writes bytes, optionally split into `chunk`-byte writes."""
        if not chunk:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i : i + chunk])
            if delay:
                time.sleep(delay)

    def send_frame(self, opcode: int, payload: bytes | str = b"", *, chunk: int | None = None,
                   delay: float = 0.0, **kw) -> None:
        self.send_raw(build_frame(opcode, payload, **kw), chunk, delay)

    def send_text(self, text: str | bytes, **kw) -> None:
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text, **kw)

    def send_binary(self, data: bytes, **kw) -> None:
        self.send_frame(OP_BINARY, data, **kw)

    def send_ping(self, payload: bytes = b"", **kw) -> None:
        self.send_frame(OP_PING, payload, **kw)

    def send_pong(self, payload: bytes = b"", **kw) -> None:
        self.send_frame(OP_PONG, payload, **kw)

    def send_close(self, code: int | None = None, reason: bytes | str = b"", **kw) -> None:
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def send_fragments(self, opcode: int, pieces: list[bytes], **kw) -> None:
        """One message as len(pieces) frames, in one write."""
        out = bytearray()
        for i, piece in enumerate(pieces):
            out += build_frame(opcode if i == 0 else OP_CONT, piece, fin=(i == len(pieces) - 1), **kw)
        self.send_raw(bytes(out))

    def send_compressed(self, opcode: int, data: bytes, compressor=None, *, fragments: int = 1) -> bytes:
        """Sends `data` as a permessage-deflate message (RSV1 on the first
        frame). `compressor` is kept between messages for context takeover;
        None compresses with a fresh one. Returns the compressed payload."""
        c = compressor or zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        body = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        assert body.endswith(DEFLATE_TAIL)
        body = body[:-4]
        if fragments == 1:
            self.send_frame(opcode, body, rsv=RSV1)
        else:
            step = max(1, -(-len(body) // fragments))
            pieces = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
            out = bytearray()
            for i, piece in enumerate(pieces):
                out += build_frame(opcode if i == 0 else OP_CONT, piece, fin=(i == len(pieces) - 1),
                                   rsv=RSV1 if i == 0 else 0)
            self.send_raw(bytes(out))
        return body

    # ----- receiving --------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no frame from the server in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("no frame from the server in time") from None
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(f"connection reset: {e}") from None
        if not data:
            raise Closed("EOF")
        self.reader.feed(data)

    def recv_frame(self, timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            f = self.reader.next()
            if f is not None:
                return f
            self._fill(deadline)

    def recv_message(self, timeout: float = 5.0, *, answer_pings: bool = True) -> tuple[int, bytes]:
        """Next data message (opcode, payload), reassembled and inflated.
        Pongs are skipped; pings are answered; a Close raises AssertionError."""
        deadline = time.monotonic() + timeout
        opcode = None
        parts: list[bytes] = []
        compressed = False
        while True:
            f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_PONG:
                continue
            if f.opcode == OP_PING:
                if answer_pings:
                    self.send_pong(f.payload)
                continue
            if f.opcode == OP_CLOSE:
                raise AssertionError(f"expected a message, got Close code={f.close_code} reason={f.close_reason!r}")
            assert not f.masked, "server frames must not be masked"
            if opcode is None:
                assert f.opcode in (OP_TEXT, OP_BINARY), f"message starts with opcode {f.opcode}"
                opcode = f.opcode
                compressed = bool(f.rsv & RSV1)
                allowed = RSV1 if self.inflater is not None else 0
                assert f.rsv & ~allowed == 0, f"unexpected RSV bits {f.rsv}"
            else:
                assert f.opcode == OP_CONT, f"expected continuation, got opcode {f.opcode}"
                assert f.rsv == 0, f"RSV bits {f.rsv} on a continuation frame"
            parts.append(f.payload)
            if f.fin:
                break
        payload = b"".join(parts)
        if compressed:
            assert self.inflater is not None, "RSV1 set but deflate was not negotiated"
            if self.server_no_context_takeover:
                # Each message must decode on its own.
                self.inflater = zlib.decompressobj(self.inflate_wbits)
            payload = self.inflater.decompress(payload + DEFLATE_TAIL)
        return opcode, payload

    def expect_close(self, timeout: float = 5.0, reply: bool = True) -> CloseResult:
        """Reads until the server's Close frame (or EOF) and then waits for
        the TCP connection to end. Data frames before the Close are kept."""
        deadline = time.monotonic() + timeout
        before: list[Frame] = []
        while True:
            try:
                f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            except Closed:
                return CloseResult(None, b"", False, before, True)
            if f.opcode == OP_CLOSE:
                break
            before.append(f)
        code, reason = f.close_code, f.close_reason
        if reply:
            try:
                self.send_close(code if code is not None else None)
            except OSError:
                pass
        self.bytes_after_close = len(self.reader.buf)
        tcp_closed = self.wait_eof(max(0.5, deadline - time.monotonic()))
        return CloseResult(code, reason, True, before, tcp_closed, self.bytes_after_close)

    def wait_eof(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except Closed:
                return True
            except TimeoutError:
                return False
            self.bytes_after_close += len(self.reader.buf)
            self.reader.buf.clear()

    def expect_nothing(self, duration: float) -> None:
        """Asserts the server sends no frame for `duration` seconds."""
        try:
            f = self.recv_frame(duration)
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got frame opcode={f.opcode} len={len(f.payload)}")


def read_http_head(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """Reads an HTTP response head; returns (status, headers, bytes after the head)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\r\n\r\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete HTTP response head; got {buf[:200]!r}")
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no complete HTTP response head; got {buf[:200]!r}") from None
        if not data:
            raise Closed(f"EOF before the HTTP response head; got {buf[:200]!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0].startswith("HTTP/1."), lines[0]
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def parse_deflate_response(value: str) -> dict:
    """'permessage-deflate; server_no_context_takeover; client_max_window_bits=10'
    -> {'server_no_context_takeover': None, 'client_max_window_bits': '10'}"""
    parts = [p.strip() for p in value.split(";")]
    assert parts[0] == "permessage-deflate", value
    params = {}
    for p in parts[1:]:
        if not p:
            continue
        name, eq, val = p.partition("=")
        name = name.strip()
        assert name not in params, f"duplicate parameter {name} in {value!r}"
        params[name] = val.strip().strip('"') if eq else None
    return params
