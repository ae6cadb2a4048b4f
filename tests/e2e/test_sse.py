"""The Server-Sent Events endpoint, GET /connection/sse, end to end.

The stream is read by tests/e2e/sse.py, a reader written from the WHATWG
event-stream parsing rules, over a raw socket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import signal
import socket
import threading
import time
import urllib.parse

import pytest

from conftest import HeraldServer
from helpers import NativeClient, api, api_ok, http_exchange, publish, unique
from sse import SseClient, open_stream, parse_cursor

pytestmark = pytest.mark.timeout(90)

SECRET = "sse-test-secret"
CONFIG = """
[sse]
retry = 0.25

[limits]
max_channels_per_connection = 4

[[namespace]]
name = "h"
history_size = 1000
history_ttl = 300

[[namespace]]
name = "locked"
subscribe = "token"

[[namespace]]
name = "room"
presence = true
join_leave = true
"""


def start(herald_factory, config: str = CONFIG, **kw) -> HeraldServer:
    args = kw.pop("args", []) + ["--hmac-secret", SECRET]
    return herald_factory(config=config, args=args, **kw)


def token(user: str, *, secret: str = SECRET, exp_in: int = 600) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": user, "exp": int(time.time()) + exp_in}).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def subscribed(client: SseClient, channels: list[str]) -> dict[str, dict]:
    """Reads the connect event and one subscribe event per channel, in order;
    returns {channel: subscribe data}."""
    connect = client.expect("connect")
    assert isinstance(connect.json().get("client"), str) and connect.json()["client"], connect
    out = {}
    for ch in channels:
        ev = client.expect("subscribe")
        data = ev.json()
        assert data["channel"] == ch, (data, ch)
        assert isinstance(data["offset"], int) and isinstance(data["epoch"], str) and data["epoch"], data
        # The subscribe event's id already holds the channel's start.
        assert ev.cursor()[ch] == (data["offset"], data["epoch"]), (ev, data)
        out[ch] = data
    return out



def publish_n(server, channel: str, n: int, start: int = 0) -> list[dict]:
    return [publish(server, channel, {"i": start + i}) for i in range(n)]


def test_every_id_of_a_resumed_stream_keeps_the_channels_not_yet_resubscribed(herald_factory):
    """A resumed stream subscribes its channels one after the other. The id
    of the first subscribe event (and of its recovered events) must still
    hold where the client stood in the later channels: a cut right there
    would otherwise send a cursor without them, and those channels could
    not be recovered any more."""
    server = start(herald_factory)
    a, b, c = unique("h:ra"), unique("h:rb"), unique("h:rc")
    with open_stream(server, [a, b, c]) as s:
        subscribed(s, [a, b, c])
        for ch in (a, b, c):
            publish(server, ch, {"first": ch})
        got = s.events(3)
        resume_id = got[-1].last_event_id
    cur = parse_cursor(resume_id)
    assert {ch: off for ch, (off, _) in cur.items()} == {a: 1, b: 1, c: 1}
    for ch in (a, b, c):
        publish_n(server, ch, 2)  # offsets 2, 3 missed
    with open_stream(server, [a, b, c], last_event_id=resume_id) as s:
        s.expect("connect")
        sub_a = s.expect("subscribe")
        assert sub_a.json()["channel"] == a and sub_a.json()["recovered"] is True
        assert sub_a.cursor() == {a: (1, cur[a][1]), b: cur[b], c: cur[c]}, sub_a.last_event_id
        first_missed = s.expect("message")
        assert first_missed.cursor() == {a: (2, cur[a][1]), b: cur[b], c: cur[c]}, first_missed.last_event_id
        # Cut here, and come back with that id: every channel recovers.
        cut_id = first_missed.last_event_id
    with open_stream(server, [a, b, c], last_event_id=cut_id) as s:
        s.expect("connect")
        seen = {a: [], b: [], c: []}
        for ch in (a, b, c):
            sub = s.expect("subscribe")
            assert sub.json()["channel"] == ch and sub.json()["recovered"] is True, sub
            want = [3] if ch == a else [2, 3]
            for _ in want:
                seen[ch].append(s.expect("message").json()["offset"])
        assert seen == {a: [3], b: [2, 3], c: [2, 3]}
        s.assert_quiet(0.2)
