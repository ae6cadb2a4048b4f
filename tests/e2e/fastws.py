"""A lean asyncio native-protocol subscriber for the load-shaped tests.

A thousand `websockets` clients in one Python process cannot take ten
million events in the time a test has, so most of the crowd uses this: a
real RFC 6455 client (masked frames, full frame parsing, answers pings,
reassembles fragments) that does the handshake, connect and subscribe with
full JSON parsing, then reads events in bulk, extracting each event's offset
with one regex pass over the frames of each read.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import struct

from rawws import OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, accept_key, build_frame

OFFSET_RE = re.compile(rb'"offset":(\d+)')


class FastSubscriber:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.partial: list[bytes] = []   # fragments of a message in progress
        self.next_offset = 1
        self.error: str | None = None
        self.close_code: int | None = None
        self.messages: list[dict] = []   # parsed non-event messages (stream mode: disconnect pushes)

    @classmethod
    async def open(cls, host: str, port: int, channel: str, path: str = "/connection/websocket",
                   timeout: float = 30.0) -> "FastSubscriber":
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=1 << 22), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status + b" ", f"handshake: {status!r}"
        assert accept_key(key).encode() in head, "bad Sec-WebSocket-Accept"
        sub = cls(reader, writer)
        writer.write(build_frame(OP_TEXT, b'{"id":1,"connect":{}}\n'
                                 + json.dumps({"id": 2, "subscribe": {"channel": channel}}).encode()))
        got_connect = got_subscribe = False
        while not (got_connect and got_subscribe):
            for payload in await asyncio.wait_for(sub._read_messages(), timeout):
                for line in payload.split(b"\n"):
                    if not line.strip():
                        continue
                    msg = json.loads(line)
                    if msg.get("id") == 1:
                        assert "connect" in msg, msg
                        got_connect = True
                    elif msg.get("id") == 2:
                        assert "subscribe" in msg, msg
                        got_subscribe = True
                    else:
                        raise AssertionError(f"unexpected message before subscribing: {msg}")
        return sub

    async def _read_messages(self) -> list[bytes]:
        """Reads once from the socket and returns the complete text messages."""
        data = await self.reader.read(1 << 18)
        if not data:
            raise ConnectionError("EOF")
        self.buf += data
        return self._parse()

    def _parse(self) -> list[bytes]:
        buf = self.buf
        n_buf = len(buf)
        pos = 0
        out = []
        while n_buf - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1]
            if n & 0x80:
                raise AssertionError("server frame is masked")
            h = 2
            if n == 126:
                if n_buf - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                h = 4
            elif n == 127:
                if n_buf - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                h = 10
            end = pos + h + n
            if end > n_buf:
                break
            op = b0 & 0x0F
            fin = b0 & 0x80
            if b0 & 0x70:
                raise AssertionError(f"RSV bits set without an extension: {b0:#x}")
            if op == OP_TEXT or op == OP_CONT:
                if fin and not self.partial:
                    out.append(bytes(buf[pos + h : end]))
                else:
                    self.partial.append(bytes(buf[pos + h : end]))
                    if fin:
                        out.append(b"".join(self.partial))
                        self.partial = []
            elif op == OP_PING:
                self.writer.write(build_frame(OP_PONG, bytes(buf[pos + h : end])))
            elif op == OP_CLOSE:
                payload = bytes(buf[pos + h : end])
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                out.append(b"")  # keep what came before
                pos = end
                break
            elif op != OP_PONG:
                raise AssertionError(f"unexpected opcode {op}")
            pos = end
        del buf[:pos]
        return out

    async def consume(self, total: int) -> None:
        """Reads events until offset `total`; checks offsets are 1, 2, 3, ...
        Stops early (setting .error) on a gap, a reorder or a close."""
        try:
            while self.next_offset <= total:
                payloads = await self._read_messages()
                joined = b"\n".join(payloads)
                offs = OFFSET_RE.findall(joined)
                if offs:
                    nums = list(map(int, offs))
                    want = list(range(self.next_offset, self.next_offset + len(nums)))
                    if nums != want:
                        bad = next(i for i, (a, b) in enumerate(zip(nums, want)) if a != b) \
                            if any(a != b for a, b in zip(nums, want)) else len(want)
                        self.error = (f"offset {nums[bad] if bad < len(nums) else None} where "
                                      f"{want[bad] if bad < len(want) else None} was due")
                        return
                    self.next_offset += len(nums)
                if self.close_code is not None:
                    self.error = f"closed by the server with {self.close_code} at offset {self.next_offset}"
                    return
        except (ConnectionError, OSError) as e:
            self.error = f"connection lost at offset {self.next_offset}: {e}"

    def close(self) -> None:
        try:
            self.writer.write(build_frame(OP_CLOSE, struct.pack("!H", 1000)))
            self.writer.close()
        except Exception:
            pass
