"""The Server-Sent Events endpoint, GET /connection/sse, end to end: the
stream a browser's EventSource reads (headers, named events, ids that are
resume cursors, heartbeats, retry), resuming with Last-Event-ID (header or
query) without gap or duplicate, refusals before the stream starts (HTTP 4xx
with a JSON error), tokens, permissions, join/leave, server API subscribe,
shutdown, slow consumers, metrics and CORS.

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


def metric(server, name: str, labels: str = "") -> float:
    status, body = server.http_get("/metrics")
    assert status == 200
    want = f"{name}{{{labels}}}" if labels else name
    for line in body.decode().splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == want:
            return float(value)
    raise AssertionError(f"metric {want} not in /metrics")


def wait_metric(server, name: str, labels: str, pred, timeout: float = 5.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        value = metric(server, name, labels)
        if pred(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{{{labels}}} = {value} after {timeout}s")
        time.sleep(0.05)


def raw_get(server, path: str, headers: dict | None = None, method: str = "GET"):
    hdrs = {"Host": f"{server.host}:{server.port}", **(headers or {})}
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return http_exchange(server, req.encode())


# ----- the stream -------------------------------------------------------------


def test_stream_headers_retry_connect_and_subscribe_events(herald_factory):
    server = start(herald_factory)
    a, b = unique("h:a"), unique("plain")
    with open_stream(server, [a, b]) as s:
        assert s.status == 200, s.status_line
        assert s.headers["content-type"].split(";")[0].strip() == "text/event-stream", s.headers
        assert "no-cache" in s.headers["cache-control"], s.headers
        assert "content-length" not in s.headers, "an event stream has no length"
        connect = s.expect("connect")
        assert connect.json()["user"] == "" and connect.json()["client"], connect
        assert s.retry_ms == 250, "retry: comes from [sse] retry (0.25 s)"
        subs = subscribed_after_connect(s, [a, b])
        # The first id names only the first channel; the second names both.
        assert set(subs[a][1].cursor()) == {a}
        assert subs[b][1].cursor() == {a: (0, subs[a][0]["epoch"]), b: (0, subs[b][0]["epoch"])}
        # A fresh stream is not a resume: no "recovered" field.
        assert "recovered" not in subs[a][0] and "recovered" not in subs[b][0]
        s.assert_quiet(0.2)


def subscribed_after_connect(s: SseClient, channels: list[str]):
    out = {}
    for ch in channels:
        ev = s.expect("subscribe")
        data = ev.json()
        assert data["channel"] == ch and data["offset"] == 0, data
        assert ev.cursor()[ch] == (0, data["epoch"]), ev
        out[ch] = (data, ev)
    return out


def test_published_event_arrives_with_a_cursor_over_every_channel(herald_factory):
    server = start(herald_factory)
    a, b, c = unique("h:a"), unique("h:b"), unique("plain")
    with open_stream(server, [a, b, c]) as s:
        subs = subscribed(s, [a, b, c])
        pa = publish(server, a, {"text": "hello", "n": [1, 2]}, event_type="message.sent")
        pb1 = publish(server, b, {"x": 1})
        pb2 = publish(server, b, {"x": 2}, version=3)
        got = s.events(3)
        raw = s.raw.decode()
        assert all(ev.type == "message" for ev in got), got
        # The event's JSON carries its channel first.
        for ev in got:
            assert ev.data.startswith('{"channel":'), ev.data
        first = got[0].json()
        assert first["channel"] == a and first["eventType"] == "message.sent", first
        assert first["payload"] == {"text": "hello", "n": [1, 2]} and first["offset"] == pa["offset"] == 1
        assert first["version"] == 1 and isinstance(first["timestamp"], int), first
        assert abs(first["timestamp"] - time.time() * 1000) < 60_000, first
        assert [got[1].json()["payload"], got[2].json()["payload"]] == [{"x": 1}, {"x": 2}]
        assert got[2].json()["version"] == 3
        # Every id covers all three channels, each where the client stands.
        ea, eb, ec = subs[a]["epoch"], subs[b]["epoch"], subs[c]["epoch"]
        assert pa["epoch"] == ea and pb1["epoch"] == pb2["epoch"] == eb
        assert got[0].cursor() == {a: (1, ea), b: (0, eb), c: (0, ec)}
        assert got[1].cursor() == {a: (1, ea), b: (1, eb), c: (0, ec)}
        assert got[2].cursor() == {a: (1, ea), b: (2, eb), c: (0, ec)}
        assert raw.count("\nid: ") >= 5, raw
        s.assert_quiet(0.2)


def test_payload_with_line_breaks_arrives_intact(herald_factory):
    server = start(herald_factory)
    ch = unique("h:nl")
    payload = {"text": "line one\nline two\r\nline three\rend", "emoji": "snow \u2603 \U0001F600",
               "sep": "\u2028\u2029", "nested": {"list": ["a\nb", "", "\n"]}}
    # The request body itself has raw line breaks between the JSON tokens,
    # inside the payload too.
    body = ('{"channel": "%s",\n "eventType": "multi",\r\n "payload": %s\n}'
            % (ch, json.dumps(payload, indent=2).replace("\n", "\r\n"))).encode()
    with open_stream(server, [ch]) as s:
        subscribed(s, [ch])
        status, reply = api(server, "publish", raw=body)
        assert status == 200, reply
        ev = s.expect("message")
        data = ev.json()
        assert data["payload"] == payload, data
        assert data["eventType"] == "multi" and data["offset"] == reply["result"]["offset"]
        # A line break inside the event would have to be split over data:
        # lines; whatever the server does, no bare break leaks into a field.
        for line in re.split(r"\r\n|\n|\r", s.raw.decode()):
            assert line == "" or line.startswith((":", "data:", "id:", "event:", "retry:")), line


def test_data_split_over_several_lines_is_joined_by_the_reader():
    """The reader itself, on a hand-written stream: the rules it follows
    (multi-line data, CR/LF/CRLF, comments, id without event, retry) hold,
    so the tests above can trust it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    stream = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
              b"\xef\xbb\xbf: hello\nretry: 1200\nretry: x1\n\n"
              b"id: 7\ndata: {\"a\":\r\ndata:  1}\r\rdata\nevent: named\nid: 8\n\n"
              b"id: 9\n\ndata: last\n\ndata: never dispatched\n")

    def serve():
        c, _ = srv.accept()
        c.recv(4096)
        for i in range(0, len(stream), 7):  # every possible split point, almost
            c.sendall(stream[i : i + 7])
            time.sleep(0.002)
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    s = SseClient("127.0.0.1", port, "/")
    try:
        e1 = s.next_event()
        assert (e1.type, e1.data, e1.last_event_id) == ("message", '{"a":\n 1}', "7")
        e2 = s.next_event()
        assert (e2.type, e2.data, e2.last_event_id) == ("named", "", "8")
        e3 = s.next_event()
        assert (e3.type, e3.data, e3.last_event_id) == ("message", "last", "9")
        assert s.read_until_closed() == []
        assert s.retries == [1200] and [c for _, c in s.comments] == [" hello"]
    finally:
        s.close()
        srv.close()
        t.join(5)


# ----- resuming ---------------------------------------------------------------


def publish_n(server, channel: str, n: int, start: int = 0) -> list[dict]:
    return [publish(server, channel, {"i": start + i}) for i in range(n)]


@pytest.mark.parametrize("how", ["header", "query"])
def test_resume_after_events_missed_while_disconnected(herald_factory, how):
    server = start(herald_factory)
    ch = unique("h:resume")
    with open_stream(server, [ch]) as s:
        subscribed(s, [ch])
        publish_n(server, ch, 3)
        got = s.events(3)
        assert [e.json()["offset"] for e in got] == [1, 2, 3]
        last_id = got[-1].last_event_id
        epoch = parse_cursor(last_id)[ch][1]
    assert parse_cursor(last_id) == {ch: (3, epoch)}
    missed = publish_n(server, ch, 5, start=3)
    assert [m["offset"] for m in missed] == [4, 5, 6, 7, 8]

    kw = {"last_event_id": last_id} if how == "header" else {"query_last_event_id": last_id}
    with open_stream(server, [ch], **kw) as s:
        s.expect("connect")
        sub = s.expect("subscribe")
        data = sub.json()
        assert data["recovered"] is True, data
        assert data["offset"] == 8 and data["epoch"] == epoch, data
        # The subscribe event's id still says where the client stood, so a
        # cut during recovery resumes from there.
        assert sub.cursor() == {ch: (3, epoch)}, sub
        replay = s.events(5)
        assert [e.json()["offset"] for e in replay] == [4, 5, 6, 7, 8]
        assert [e.json()["payload"] for e in replay] == [{"i": i} for i in range(3, 8)]
        assert [e.cursor()[ch][0] for e in replay] == [4, 5, 6, 7, 8]
        s.assert_quiet(0.3)  # exactly once: nothing replayed twice
        publish(server, ch, {"i": 8})
        live = s.expect("message")
        assert live.json()["offset"] == 9 and live.cursor() == {ch: (9, epoch)}
        s.assert_quiet(0.2)


def test_resume_with_nothing_missed_is_recovered_and_quiet(herald_factory):
    server = start(herald_factory)
    ch = unique("h:none")
    publish_n(server, ch, 2)
    with open_stream(server, [ch]) as s:
        subs = subscribed(s, [ch])
        assert subs[ch]["offset"] == 2
        last_id = s.raw.decode().split("id: ")[-1].split("\n")[0]
    with open_stream(server, [ch], last_event_id=last_id) as s:
        s.expect("connect")
        data = s.expect("subscribe").json()
        assert data["recovered"] is True and data["offset"] == 2, data
        s.assert_quiet(0.3)


@pytest.mark.parametrize("cursor", ["wrong-epoch", "garbage", "other-channel", "duplicate"])
def test_resume_from_a_cursor_that_cannot_be_used_is_not_recovered(herald_factory, cursor):
    server = start(herald_factory)
    ch = unique("h:bad")
    publish_n(server, ch, 4)
    status, reply = api(server, "history", {"channel": ch, "limit": 0})
    epoch = reply["result"]["epoch"]
    text = {
        "wrong-epoch": f"2.{'f' * len(epoch) if epoch != 'f' * len(epoch) else 'e' * len(epoch)}.{ch}",
        "garbage": "not a cursor \u00e9",
        "other-channel": f"2.{epoch}.{unique('h:elsewhere')}",
        "duplicate": f"2.{epoch}.{ch},3.{epoch}.{ch}",
    }[cursor]
    with open_stream(server, [ch], query_last_event_id=text) as s:
        s.expect("connect")
        sub = s.expect("subscribe")
        data = sub.json()
        # Told plainly, never a silent gap: reload, then go on from here.
        assert data["recovered"] is False, data
        assert data["offset"] == 4 and data["epoch"] == epoch, data
        assert sub.cursor() == {ch: (4, epoch)}, sub
        s.assert_quiet(0.3)  # no replay of offsets 3..4
        publish(server, ch, {"after": True})
        ev = s.expect("message")
        assert ev.json()["offset"] == 5 and ev.cursor() == {ch: (5, epoch)}


def test_cursor_from_another_server_run_is_not_recovered(herald_factory):
    """A restart of the memory engine starts new epochs: the old cursor
    must come back as recovered: false, not as a resume into another history."""
    first = start(herald_factory)
    ch = unique("h:epoch")
    publish_n(first, ch, 3)
    with open_stream(first, [ch]) as s:
        subscribed(s, [ch])
        publish(first, ch, {"n": 4})
        old_id = s.expect("message").last_event_id
    second = start(herald_factory)
    publish_n(second, ch, 6)
    with open_stream(second, [ch], last_event_id=old_id) as s:
        s.expect("connect")
        data = s.expect("subscribe").json()
        assert data["recovered"] is False and data["offset"] == 6, data
        assert data["epoch"] != parse_cursor(old_id)[ch][1]
        s.assert_quiet(0.3)


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


def test_recovery_too_large_for_the_stream_is_not_recovered_instead_of_a_3006_loop(herald_factory):
    """The session bounds a recovery by the size of its JSON reply (half the
    out-queue), but on a stream every replayed event also carries an id
    holding the whole cursor: with several long channel names and many
    small events the stream text is many times the JSON. It must then say
    recovered: false (and the page reloads once), not overflow its queue:
    that would be a 3006 disconnect, and the same again on every resume."""
    config = CONFIG.replace("[limits]\n", "[limits]\nmax_queue_bytes = 65536\n")
    server = start(herald_factory, config=config)
    channels = [unique("h:" + "long" * 48 + f"-{i}") for i in range(4)]
    with open_stream(server, channels) as s:
        subscribed(s, channels)
        resume_id = s.last_event_id
    assert len(resume_id) > 800
    api_ok(server, "batch", {"commands": [{"publish": {"channel": channels[0], "eventType": "t",
                                                       "payload": {"i": i}}} for i in range(150)]})
    publish(server, channels[1], {"small": True})
    for attempt in range(2):  # the same cursor twice: the same, stable answer
        with open_stream(server, channels, last_event_id=resume_id) as s:
            s.expect("connect")
            first = s.expect("subscribe")
            assert first.json()["channel"] == channels[0], first
            assert first.json()["recovered"] is False and first.json()["offset"] == 150 + attempt, first
            assert first.cursor()[channels[0]][0] == 150 + attempt
            second = s.expect("subscribe")
            assert second.json()["recovered"] is True, second
            ev = s.expect("message")
            assert ev.json()["channel"] == channels[1] and ev.json()["payload"] == {"small": True}
            for ch in channels[2:]:
                assert s.expect("subscribe").json()["recovered"] is True
            publish(server, channels[0], {"live": attempt})
            live = s.expect("message")
            assert live.json()["offset"] == 151 + attempt, live
            assert metric(server, "herald_disconnects_total", 'code="3006"') == 0


def test_cut_mid_stream_resumes_every_channel_without_gap_or_duplicate(herald_factory):
    """Several channels, a publisher running meanwhile, and a reader whose
    connection is cut at random byte positions (inside an event, between its
    id and its data...). Each time it comes back with the id of the last
    complete event, as a browser does; every channel must then be seen as
    1, 2, 3, ... N exactly once."""
    server = start(herald_factory)
    channels = [unique(f"h:cut{i}") for i in range(3)]
    per_channel = 40
    rng = random.Random(20261129)
    last = {ch: 0 for ch in channels}
    errors: list[str] = []
    s = open_stream(server, channels)
    subscribed(s, channels)
    last_id = s.last_event_id
    done = threading.Event()

    def publisher():
        try:
            for i in range(per_channel):
                for ch in channels:
                    publish(server, ch, {"i": i + 1, "pad": "x" * rng.randint(0, 300)})
                time.sleep(0.005)
        except Exception as e:  # reported below
            errors.append(f"publisher: {e!r}")
        finally:
            done.set()

    t = threading.Thread(target=publisher, daemon=True)
    t.start()
    reconnects = recovered_true = 0
    deadline = time.monotonic() + 40
    try:
        while True:
            events = s.cut_after(rng.randint(1, 2500), timeout=1.0)
            for ev in events:
                if ev.type == "subscribe":
                    data = ev.json()
                    if data.get("recovered") is not True:
                        errors.append(f"not recovered: {data}")
                    recovered_true += data.get("recovered") is True
                    continue
                if ev.type != "message":
                    continue
                data = ev.json()
                ch, off = data["channel"], data["offset"]
                if off != last[ch] + 1:
                    errors.append(f"{ch}: offset {off} after {last[ch]}")
                last[ch] = off
                if ev.cursor()[ch][0] != off:
                    errors.append(f"id {ev.last_event_id} does not hold offset {off} of {ch}")
                if set(ev.cursor()) != set(channels):
                    errors.append(f"id {ev.last_event_id} lacks a channel")
            if s.last_event_id:
                last_id = s.last_event_id
            if errors or (done.is_set() and all(v == per_channel for v in last.values())):
                break
            assert time.monotonic() < deadline, f"stuck at {last}"
            reconnects += 1
            s = open_stream(server, channels, last_event_id=last_id)
            assert s.status == 200
    finally:
        s.abort()
        t.join(10)
    assert not errors, errors[:10]
    assert last == {ch: per_channel for ch in channels}
    assert reconnects >= 5 and recovered_true >= 3 * 3, (reconnects, recovered_true)


# ----- tokens and refusals -------------------------------------------------------


@pytest.mark.parametrize("where", ["query", "header"])
def test_token_in_query_or_authorization_header(herald_factory, where):
    server = start(herald_factory)
    ch = unique("h:tok")
    tok = token("alice")
    kw = {"token": tok} if where == "query" else {"headers": {"Authorization": f"Bearer {tok}"}}
    with open_stream(server, [ch], **kw) as s:
        assert s.status == 200, s.body
        connect = s.expect("connect").json()
        assert connect["user"] == "alice", connect
        assert 500 <= connect["ttl"] <= 600, connect
        s.expect("subscribe")


def test_user_limited_channel_with_several_users_comes_in_a_channel_parameter(herald_factory):
    """In `channels` a comma separates; `channel=dm:#42,43` names one channel
    whose users are 42 and 43, and the cursor escapes its comma."""
    server = start(herald_factory)
    dm = unique("h:dm") + "#42,43"
    plain = unique("h:p")
    q = f"channels={plain}&channel={urllib.parse.quote(dm, safe='')}&token="
    with open_stream(server, None, raw_query=q + token("43")) as s:
        assert s.status == 200, s.body
        s.expect("connect")
        subs = [s.expect("subscribe").json()["channel"] for _ in range(2)]
        assert subs == [plain, dm], subs
        publish(server, dm, {"secret": 1})
        ev = s.events(1)[0]
        assert ev.json()["channel"] == dm and ev.json()["payload"] == {"secret": 1}
        assert "%2C" in ev.last_event_id, ev.last_event_id
        assert ev.cursor()[dm][0] == 1
        resume_from = ev.last_event_id
    # Resuming with that cursor recovers the user-limited channel too.
    publish(server, dm, {"secret": 2})
    with open_stream(server, None, raw_query=q + token("43"), last_event_id=resume_from) as s:
        s.expect("connect")
        s.expect("subscribe")
        sub = s.expect("subscribe").json()
        assert sub["channel"] == dm and sub["recovered"] is True, sub
        assert s.events(1)[0].json()["payload"] == {"secret": 2}
    # Anyone else is refused that channel, not the stream.
    with open_stream(server, None, raw_query=q + token("44")) as s:
        s.expect("connect")
        s.expect("subscribe")
        err = s.expect("subscribe_error").json()
        assert err["channel"] == dm and err["code"] == 103, err


def test_gentoken_token_is_accepted(herald_factory):
    import subprocess
    from conftest import herald_bin
    server = start(herald_factory)
    out = subprocess.run([str(herald_bin()), "gentoken", "--user", "gen-user", "--secret", SECRET],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    tok = out.stdout.strip().splitlines()[-1].strip()
    with open_stream(server, [unique("h:gen")], token=tok) as s:
        assert s.status == 200, s.body
        assert s.expect("connect").json()["user"] == "gen-user"


@pytest.mark.parametrize("bad", ["wrong-secret", "garbage", "expired", "bearer-garbage"])
def test_bad_token_is_refused_with_401_json(herald_factory, bad):
    server = start(herald_factory)
    ch = unique("h:bad")
    kw = {
        "wrong-secret": {"token": token("mallory", secret="not-the-secret")},
        "garbage": {"token": "abc.def.ghi"},
        "expired": {"token": token("late", exp_in=-120)},
        "bearer-garbage": {"headers": {"Authorization": "Bearer x.y.z"}},
    }[bad]
    with open_stream(server, [ch], **kw) as s:
        assert s.status == 401, (s.status_line, s.body)
        assert s.headers["content-type"].startswith("application/json"), s.headers
        err = s.error_json()
        assert err["code"] == (109 if bad == "expired" else 101), err
    # The server goes on serving streams.
    with open_stream(server, [ch]) as s:
        assert s.status == 200


def test_token_expiring_mid_stream_ends_it_with_3004(herald_factory):
    server = start(herald_factory)
    with open_stream(server, [unique("h:exp")], token=token("brief", exp_in=2)) as s:
        connect = s.expect("connect").json()
        assert connect["user"] == "brief" and connect["ttl"] <= 2, connect
        s.expect("subscribe")
        events = s.read_until_closed(timeout=6)
        assert [e.type for e in events] == ["disconnect"], events
        data = events[0].json()
        assert data["code"] == 3004 and data["reconnect"] is True, data
    # Coming back with the same (now expired) token: refused before a stream.
    with open_stream(server, [unique("h:exp")], token=token("brief", exp_in=-1)) as s:
        assert s.status == 401 and s.error_json()["code"] == 109


def test_anonymous_stream_refused_when_not_allowed(herald_factory):
    server = start(herald_factory, anonymous=False)
    ch = unique("h:anon")
    with open_stream(server, [ch]) as s:
        assert s.status == 401, (s.status_line, s.body)
        assert s.error_json()["code"] == 101
    with open_stream(server, [ch], token=token("known")) as s:
        assert s.status == 200
        assert s.expect("connect").json()["user"] == "known"


@pytest.mark.parametrize("query,code", [
    ("", 107),                                   # no channels at all
    ("channels=", 107),                          # empty
    ("token=abc", 107),                          # channels missing
    ("channels=a,,b", 102),                      # an empty name in the list
    ("channels=a,", 102),                        # a trailing separator: an empty last name
    ("channels=a%20b", 102),                     # a space is not allowed
    ("channels=a%22b", 102),                     # nor a quote
    (f"channels={'x' * 256}", 102),              # too long
    ("channels=a,b,c,d,e", 106),                 # max_channels_per_connection = 4
    ("channels=a%zz", 107),                      # malformed percent-escape
    ("channels=a%4", 107),                       # truncated escape
    ("channels=a&token=%G1", 107),
    ("channels=a&lastEventId=%", 107),
])
def test_bad_request_is_refused_with_400_json(herald_factory, query, code):
    server = start(herald_factory)
    status, headers, body, _ = raw_get(server, "/connection/sse?" + query if query else "/connection/sse")
    assert status == 400, (status, body)
    assert headers["content-type"].startswith("application/json"), headers
    reply = json.loads(body)
    assert reply["error"]["code"] == code, reply
    assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]


def test_channel_list_is_percent_decoded_and_deduplicated(herald_factory):
    server = start(herald_factory)
    a, b = unique("h:pct"), unique("h:pct")
    # URLSearchParams (a browser) encodes ',' as %2C and ':' as %3A.
    q = f"channels={urllib.parse.quote(a + ',' + b + ',' + a, safe='')}"
    with open_stream(server, [], raw_query=q) as s:
        assert s.status == 200, s.body
        subscribed(s, [a, b])
        s.assert_quiet(0.2)  # a is subscribed once


def test_max_channels_limit_is_inclusive(herald_factory):
    server = start(herald_factory)
    channels = [unique(f"h:m{i}") for i in range(4)]
    with open_stream(server, channels) as s:
        assert s.status == 200
        subscribed(s, channels)


def test_other_methods(herald_factory):
    server = start(herald_factory)
    status, headers, body, _ = raw_get(server, "/connection/sse?channels=a", method="POST")
    assert status == 405 and json.loads(body)["error"]["code"] == 107, (status, body)


def test_command_rate_limit_does_not_refuse_the_channels_of_the_url(herald_factory):
    """A stream's connect and subscribes come from one request, which the
    client cannot space out: commands_per_second must not refuse its
    channels (110) nor drop it with 3007, which EventSource would retry
    forever. A WebSocket client sending commands is still paced."""
    config = CONFIG.replace("[limits]\n", "[limits]\ncommands_per_second = 1\n")
    server = start(herald_factory, config=config)
    channels = [unique(f"h:rl{i}") for i in range(4)]
    for _ in range(2):
        with open_stream(server, channels) as s:
            assert s.status == 200
            subscribed(s, channels)
            publish(server, channels[3], {"last": True})
            assert s.expect("message").json()["channel"] == channels[3]
    assert metric(server, "herald_disconnects_total", 'code="3007"') == 0
    with NativeClient(server) as ws:
        ws.connect()
        cid = ws.send("subscribe", {"channel": unique("h:ws")})
        reply = ws.wait_reply(cid)
        assert reply.get("error", {}).get("code") == 110, reply


def test_connection_limit_is_refused_with_429_json(herald_factory):
    server = start(herald_factory, env={"HERALD_LIMITS_MAX_CONNECTIONS_PER_IP": "1"})
    with open_stream(server, [unique("h:one")]) as first:
        assert first.status == 200
        first.expect("connect")
        with open_stream(server, [unique("h:two")]) as second:
            assert second.status == 429, (second.status_line, second.body)
            assert second.error_json()["code"] == 106
        first.expect("subscribe")
    # The slot is given back when the stream ends.
    deadline = time.monotonic() + 5
    while True:
        with open_stream(server, [unique("h:three")]) as again:
            if again.status == 200 or time.monotonic() > deadline:
                assert again.status == 200, again.body
                break
        time.sleep(0.05)


def test_refused_channel_is_an_error_event_and_the_others_go_on(herald_factory):
    server = start(herald_factory)
    ok1, locked, ok2 = unique("h:ok"), unique("locked:x"), unique("plain")
    with open_stream(server, [ok1, locked, ok2]) as s:
        assert s.status == 200
        s.expect("connect")
        first = s.expect("subscribe")
        assert first.json()["channel"] == ok1
        err = s.expect("subscribe_error")
        data = err.json()
        assert data == {"channel": locked, "code": 103, "message": data["message"]}, data
        assert data["message"], data
        third = s.expect("subscribe")
        assert third.json()["channel"] == ok2
        assert set(third.cursor()) == {ok1, ok2}, "a refused channel has no place in the cursor"
        publish(server, ok2, {"still": "works"})
        publish(server, locked, {"must": "not arrive"})
        publish(server, ok1, {"also": "works"})
        got = s.events(2)
        assert [(e.json()["channel"], e.json()["payload"]) for e in got] == \
            [(ok2, {"still": "works"}), (ok1, {"also": "works"})]
        s.assert_quiet(0.3)


# ----- heartbeats, join/leave, server API -----------------------------------------


def test_heartbeat_comment_with_heartbeat_interval_one_second(herald_factory):
    server = start(herald_factory, config=CONFIG.replace("[sse]\n", "[sse]\nheartbeat_interval = 1\n"))
    ch = unique("h:hb")
    with open_stream(server, [ch]) as s:
        subscribed(s, [ch])
        opened = time.monotonic()
        deadline = opened + 5
        while len(s.comments) < 2:
            assert time.monotonic() < deadline, f"{len(s.comments)} heartbeats in 5 s: {s.raw[-200:]!r}"
            with pytest.raises(TimeoutError):
                s.next_event(timeout=0.1)
        (t1, c1), (t2, c2) = s.comments[:2]
        assert t2 - t1 > 0.5, "one heartbeat per interval, not a burst"
        assert t1 - opened < 3.5  # due at 1 s, sent by the next once-a-second tick
        # A heartbeat is a comment: it dispatches nothing and leaves the id.
        assert s.pending() == [] and parse_cursor(s.last_event_id)[ch][0] == 0


def test_default_heartbeat_is_quiet_for_a_second(herald_factory):
    server = start(herald_factory)
    with open_stream(server, [unique("h:quiet")]) as s:
        s.expect("connect")
        s.expect("subscribe")
        s.assert_quiet(1.3)
        assert s.comments == [], "default heartbeat_interval is 15 s"


def test_join_and_leave_events(herald_factory):
    server = start(herald_factory)
    ch = unique("room:x")
    with open_stream(server, [ch], token=token("watcher")) as watcher:
        subscribed(watcher, [ch])
        with open_stream(server, [ch], token=token("bob")) as bob:
            bob_client = bob.expect("connect").json()["client"]
            bob.expect("subscribe")
            join = watcher.expect("join")
            assert join.json() == {"channel": ch, "client": bob_client, "user": "bob"}, join
            # A join is no publication: the id does not move.
            assert parse_cursor(join.last_event_id)[ch][0] == 0, join
        leave = watcher.expect("leave")
        assert leave.json() == {"channel": ch, "client": bob_client, "user": "bob"}, leave
        publish(server, ch, {"after": "leave"})
        assert watcher.expect("message").json()["offset"] == 1


def test_server_api_subscribe_and_unsubscribe_reach_the_stream(herald_factory):
    server = start(herald_factory)
    base, extra = unique("h:base"), unique("h:extra")
    publish_n(server, extra, 2)
    with open_stream(server, [base], token=token("carol")) as s:
        subscribed(s, [base])
        api_ok(server, "subscribe", {"user": "carol", "channel": extra})
        sub = s.expect("subscribe")
        data = sub.json()
        assert data["channel"] == extra and data["offset"] == 2, data
        assert sub.cursor() == {base: (0, sub.cursor()[base][1]), extra: (2, data["epoch"])}
        publish(server, extra, {"n": 3})
        ev = s.expect("message")
        assert ev.json()["channel"] == extra and ev.json()["offset"] == 3
        assert ev.cursor()[extra][0] == 3 and base in ev.cursor()
        api_ok(server, "unsubscribe", {"user": "carol", "channel": extra})
        unsub = s.expect("unsubscribe")
        assert unsub.json() == {"channel": extra}
        assert set(unsub.cursor()) == {base}
        publish(server, extra, {"n": 4})
        publish(server, base, {"n": 1})
        ev = s.expect("message")
        assert ev.json()["channel"] == base, ev
        s.assert_quiet(0.2)


def test_server_api_disconnect_ends_the_stream(herald_factory):
    server = start(herald_factory)
    with open_stream(server, [unique("h:dc")], token=token("dave")) as s:
        s.expect("connect")
        s.expect("subscribe")
        api_ok(server, "disconnect", {"user": "dave"})
        events = s.read_until_closed()
        assert [e.type for e in events] == ["disconnect"], events
        assert events[0].json() == {"code": 3009, "reason": events[0].json()["reason"], "reconnect": False}


def test_sigterm_sends_retry_with_jitter_and_disconnect_3001(herald_factory):
    server = start(herald_factory, config=CONFIG.replace("retry = 0.25", "retry = 0.5"))
    ch = unique("h:bye")
    streams = [open_stream(server, [ch]) for _ in range(3)]
    try:
        for s in streams:
            s.expect("connect")
            s.expect("subscribe")
            assert s.retry_ms == 500
        server.exit_expected = True
        server.proc.send_signal(signal.SIGTERM)
        for s in streams:
            events = s.read_until_closed(timeout=10)
            assert [e.type for e in events] == ["disconnect"], events
            assert events[0].json() == {"code": 3001, "reason": events[0].json()["reason"], "reconnect": True}
            assert events[0].json()["reason"]
            # A second retry: the configured wait plus jitter, so every
            # browser of the node does not come back at the same instant.
            assert len(s.retries) == 2, s.retries
            assert 500 <= s.retries[1] <= 500 + 2 * 500 + 1000, s.retries
            s.close()  # as a browser does on EOF; the server then exits at once
        assert server.proc.wait(15) == 0
    finally:
        for s in streams:
            s.close()


# ----- metrics, slow consumers, CORS -----------------------------------------------


def test_connections_metric_counts_open_streams(herald_factory):
    server = start(herald_factory)
    name, labels = "herald_connections", 'transport="sse"'
    assert metric(server, name, labels) == 0
    streams = [open_stream(server, [unique("h:m")]) for _ in range(3)]
    for s in streams:
        s.expect("connect")
        s.expect("subscribe")
    assert wait_metric(server, name, labels, lambda v: v == 3) == 3
    # A stream is no longer an HTTP connection: only this /metrics request is
    # (once the server has seen the earlier /metrics requests' connections
    # close, which another worker may do a moment later).
    assert wait_metric(server, name, 'transport="http"', lambda v: v == 1) == 1
    # A refused stream is never counted as open.
    with open_stream(server, [unique("h:m")], token="bad.token.here") as refused:
        assert refused.status == 401
    streams[0].close()
    streams[1].abort()
    assert wait_metric(server, name, labels, lambda v: v == 1) == 1
    streams[2].close()
    assert wait_metric(server, name, labels, lambda v: v == 0) == 0


@pytest.mark.slow
def test_slow_consumer_is_disconnected_while_another_keeps_receiving(herald_factory):
    """A stream whose reader stops reading is dropped (3006) once its queue
    passes max_queue_bytes; a stream on the same channel that keeps reading
    gets every event. The out-queue is flushed once per loop turn, so what
    one turn delivers must fit in it: the events go out a few at a time."""
    config = CONFIG.replace("[limits]\n", "[limits]\nmax_queue_bytes = 262144\n")
    server = start(herald_factory, config=config, workers=1)
    ch = unique("h:slow")
    before = metric(server, "herald_slow_consumer_disconnects_total")
    slow = open_stream(server, [ch], rcvbuf=4096)
    fast = open_stream(server, [ch])
    total = 0
    received: list[int] = []
    errors: list[str] = []
    try:
        slow.expect("connect")
        slow.expect("subscribe")
        subscribed(fast, [ch])

        def read_fast():
            try:
                while True:
                    ev = fast.next_event(timeout=20)
                    if ev.type == "message":
                        received.append(ev.json()["offset"])
                    elif ev.type == "disconnect":
                        errors.append(f"the reading stream was disconnected: {ev.data}")
                        return
            except Exception as e:
                errors.append(repr(e))

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        big = "y" * 16000
        # Publish until the server gives up on the slow stream (bounded: about
        # 64 MB at most), never more than 16 events ahead of the reading one.
        deadline = time.monotonic() + 60
        for _ in range(500):
            while len(received) < total - 16 and not errors:
                assert time.monotonic() < deadline, (len(received), total)
                time.sleep(0.002)
            assert not errors, errors
            cmds = [{"publish": {"channel": ch, "eventType": "big", "payload": {"s": big}}} for _ in range(8)]
            api_ok(server, "batch", {"commands": cmds})
            total += 8
            if metric(server, "herald_slow_consumer_disconnects_total") > before:
                break
        assert metric(server, "herald_slow_consumer_disconnects_total") == before + 1, server.log_tail()
        assert metric(server, "herald_disconnects_total", 'code="3006"') == 1
        # More events still reach the reading stream afterwards.
        for _ in range(3):
            api_ok(server, "batch", {"commands": cmds})
            total += 8
        # The slow stream, once read, is found ended by the server.
        rest = slow.read_until_closed(timeout=20)
        assert slow.closed
        tail = [e for e in rest if e.type != "message"]
        assert tail == [] or (tail[-1].type == "disconnect" and tail[-1].json()["code"] == 3006), tail
        deadline = time.monotonic() + 20
        while len(received) < total and time.monotonic() < deadline and not errors:
            time.sleep(0.05)
        assert not errors, errors
        assert received == list(range(1, total + 1)), (len(received), total)
        assert wait_metric(server, "herald_connections", 'transport="sse"', lambda v: v == 1) == 1
    finally:
        slow.abort()
        fast.close()


def test_cors_origin_is_echoed_on_the_stream(herald_factory):
    server = start(herald_factory)
    origin = "http://dashboard.example:8080"
    with open_stream(server, [unique("h:cors")], headers={"Origin": origin}) as s:
        assert s.status == 200
        assert s.headers["access-control-allow-origin"] == origin, s.headers
        assert "origin" in s.headers.get("vary", "").lower(), s.headers
        s.expect("connect")
    with open_stream(server, [unique("h:cors")]) as s:
        assert "access-control-allow-origin" not in s.headers, s.headers


def test_cors_preflight(herald_factory):
    server = start(herald_factory)
    origin = "https://app.example"
    status, headers, body, _ = raw_get(server, "/connection/sse?channels=a", method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, last-event-id", "Connection": "close"})
    assert status == 204, (status, body)
    assert body == b""
    assert headers["access-control-allow-origin"] == origin, headers
    assert "GET" in headers["access-control-allow-methods"], headers
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "last-event-id"} <= allowed, headers
    # The server keeps answering afterwards.
    with open_stream(server, [unique("h:pf")]) as s:
        assert s.status == 200
