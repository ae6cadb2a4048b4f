"""The native protocol v1 on /connection/websocket, driven by the Python
`websockets` client: connect, subscribe, publish (protocol and API), the event
schema, per-channel offsets, errors and disconnect codes. Bad commands share
one server with a bystander that must stay served."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed

from conftest import running_herald
from helpers import (Bystander, NativeClient, api_ok, assert_disconnected, disconnect_push,
                     publish, unique)

pytestmark = pytest.mark.timeout(60)

CONFIG = """
[[namespace]]
name = "ro"
publish = "none"

[[namespace]]
name = "small"
max_message_bytes = 1024
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_herald(tmp_path_factory.mktemp("protocol"), config=CONFIG) as s:
        yield s


@pytest.fixture
def bystander(server):
    b = Bystander(server)
    yield b
    try:
        b.check()
    finally:
        b.close()


@pytest.fixture
def client(server):
    c = NativeClient(server)
    yield c
    c.close()


def now_ms() -> int:
    return int(time.time() * 1000)


# ----- the happy path -------------------------------------------------------------

def test_connect_anonymous(client):
    res = client.connect()
    assert isinstance(res["client"], str) and len(res["client"]) > 0
    assert res.get("user", "") == "", res


def test_client_ids_are_unique(server):
    ids = set()
    for _ in range(5):
        with NativeClient(server) as c:
            ids.add(c.connect()["client"])
    assert len(ids) == 5


def test_api_publish_reaches_subscriber_with_offsets_1_then_2(server, client):
    ch = unique("news")
    client.connect()
    client.subscribe(ch)
    t0 = now_ms()
    r = publish(server, ch, {"a": 1}, event_type="x")
    assert r["offset"] == 1
    push = client.wait_for(lambda m: "push" in m, what="push")["push"]
    assert push["channel"] == ch
    ev = push["event"]
    assert ev["eventType"] == "x"
    assert ev["version"] == 1
    assert ev["payload"] == {"a": 1}
    assert ev["offset"] == 1
    assert isinstance(ev["timestamp"], int) and t0 - 2000 <= ev["timestamp"] <= now_ms() + 2000, ev
    assert "publisher" not in ev, "an API publication has no publisher"
    publish(server, ch, {"a": 2}, event_type="x", version=3)
    ev2 = client.wait_event(ch)
    assert ev2["offset"] == 2 and ev2["version"] == 3 and ev2["payload"] == {"a": 2}, ev2
    assert ev2["timestamp"] >= ev["timestamp"]


@pytest.mark.parametrize("payload", [
    None, 0, -1.5, True, "text with \"quotes\" and \\ and \n newline", "ünïcødé ✓ 😀",
    [1, [2, [3]]], {"nested": {"deep": [None, False, {"x": "y"}]}},
], ids=["null", "zero", "float", "bool", "escapes", "unicode", "array", "object"])
def test_payload_round_trips_any_json(server, client, payload):
    ch = unique("payload")
    client.connect()
    client.subscribe(ch)
    publish(server, ch, payload)
    assert client.wait_event(ch)["payload"] == payload


def test_publish_over_protocol_when_subscribed(server, client):
    ch = unique("chat")
    res = client.connect()
    client.subscribe(ch)
    with NativeClient(server) as other:
        other.connect()
        other.subscribe(ch)
        rep = client.call_ok("publish", {"channel": ch, "eventType": "message.sent", "version": 2,
                                         "payload": {"text": "hi"}})
        assert rep["offset"] == 1 and isinstance(rep["epoch"], str), rep
        for c in (client, other):
            ev = c.wait_event(ch)
            assert ev["eventType"] == "message.sent" and ev["version"] == 2
            assert ev["payload"] == {"text": "hi"} and ev["offset"] == 1
            assert ev["publisher"]["client"] == res["client"], ev
            assert ev["publisher"].get("user", "") == res.get("user", ""), ev


def test_several_commands_in_one_frame(server, client):
    ch = unique("multi")
    lines = [client.command("connect", {})[1],
             client.command("subscribe", {"channel": ch})[1],
             client.command("publish", {"channel": ch, "eventType": "t", "payload": 7})[1]]
    client.send_lines(*lines)
    r1, r2, r3 = (client.wait_reply(i) for i in (1, 2, 3))
    assert "connect" in r1 and "subscribe" in r2, (r1, r2)
    assert r3["publish"]["offset"] == 1, r3
    assert client.wait_event(ch)["payload"] == 7


def test_unsubscribe_stops_delivery(server, client):
    ch, fence = unique("unsub"), unique("fence")
    client.connect()
    client.subscribe(ch)
    client.subscribe(fence)
    publish(server, ch, 1)
    assert client.wait_event(ch)["offset"] == 1
    assert client.call_ok("unsubscribe", {"channel": ch}) == {}
    publish(server, ch, 2)
    publish(server, fence, "after")
    assert client.wait_event(fence)["payload"] == "after"
    client.assert_no_event(ch, 0.3)


def test_every_subscriber_sees_the_same_order(server):
    ch = unique("order")
    clients = [NativeClient(server) for _ in range(6)]
    try:
        for c in clients:
            c.connect()
            c.subscribe(ch)
        cmds = [{"publish": {"channel": ch, "eventType": "t", "payload": i}} for i in range(200)]
        api_ok(server, "batch", {"commands": cmds})
        for c in clients:
            evs = c.events(ch, 200)
            assert [e["offset"] for e in evs] == list(range(1, 201))
            assert [e["payload"] for e in evs] == list(range(200))
    finally:
        for c in clients:
            c.close()


def test_channels_are_independent(server, client):
    a, b = unique("a"), unique("b")
    client.connect()
    client.subscribe(a)
    client.subscribe(b)
    for i in range(3):
        publish(server, a, i)
    publish(server, b, "b")
    assert client.wait_event(b)["offset"] == 1
    assert [e["offset"] for e in client.events(a, 3)] == [1, 2, 3]


def test_compressed_native_connection(server):
    ch = unique("deflate")
    with NativeClient(server, compression="deflate") as c:
        assert c.ws.response.headers.get("Sec-WebSocket-Extensions", "").startswith("permessage-deflate"), \
            c.ws.response.headers
        c.connect()
        c.subscribe(ch)
        big = {"text": "compress me " * 2000}
        publish(server, ch, big)
        assert c.wait_event(ch)["payload"] == big


# ----- refusals ----------------------------------------------------------------------

def test_publish_without_subscription_is_denied_by_default(server, client, bystander):
    ch = unique("nosub")
    client.connect()
    r = client.call("publish", {"channel": ch, "eventType": "t", "payload": 1})
    assert r.get("error", {}).get("code") == 103, r


def test_publish_in_namespace_with_publish_none_is_denied(server, client, bystander):
    ch = "ro:" + unique("x")
    client.connect()
    client.subscribe(ch)
    r = client.call("publish", {"channel": ch, "eventType": "t", "payload": 1})
    assert r.get("error", {}).get("code") == 103, r
    assert isinstance(r["error"].get("message"), str)
    # The API is not bound by client rules; the subscription still works.
    assert publish(server, ch, "from-api")["offset"] == 1
    assert client.wait_event(ch)["payload"] == "from-api"


def test_already_subscribed_is_105(server, client, bystander):
    ch = unique("dup")
    client.connect()
    client.subscribe(ch)
    r = client.call("subscribe", {"channel": ch})
    assert r.get("error", {}).get("code") == 105, r


def test_unknown_command_is_104(server, client, bystander):
    client.connect()
    r = client.call("teleport", {"where": "moon"})
    assert r.get("error", {}).get("code") == 104, r
    # The connection stays usable.
    ch = unique("after104")
    client.subscribe(ch)


@pytest.mark.parametrize("method,params", [
    ("subscribe", {"channel": 42}),
    ("subscribe", {}),
    ("subscribe", "news"),
    ("subscribe", {"channel": ""}),
    ("publish", {"channel": "news", "eventType": 5, "payload": {}}),
    ("publish", {"channel": "news", "eventType": "t", "payload": {}, "version": "v1"}),
    ("unsubscribe", {"channel": ["news"]}),
], ids=["channel-int", "no-channel", "params-string", "empty-channel", "eventtype-int",
        "version-string", "channel-array"])
def test_wrong_types_are_107(server, client, bystander, method, params):
    client.connect()
    r = client.call(method, params)
    # An empty channel name may fairly be "unknown channel" rather than "bad request".
    allowed = {107, 102} if params == {"channel": ""} else {107}
    assert r.get("error", {}).get("code") in allowed, r
    client.subscribe(unique("still-ok"))


def test_payload_over_namespace_limit_is_111(server, client, bystander):
    ch = "small:" + unique("x")
    client.connect()
    client.subscribe(ch)
    r = client.call("publish", {"channel": ch, "eventType": "t", "payload": "p" * 2000})
    assert r.get("error", {}).get("code") == 111, r
    r = client.call("publish", {"channel": ch, "eventType": "t", "payload": "p" * 100})
    assert r["publish"]["offset"] == 1, r


def _bad_frame_outcome(client: NativeClient, frame: str, timeout: float = 5.0):
    """Sends a frame; returns ('error', reply) or ('closed', close code). A
    disconnect push, if the server sends one before closing, must agree."""
    client.ws.send(frame)
    try:
        msg = client.next_message(timeout)
    except ConnectionClosed as e:
        return "closed", (e.rcvd.code if e.rcvd else None)
    push = disconnect_push([msg])
    if push is None:
        return "error", msg
    code, reason, _ = client.expect_closed(timeout)
    assert push["code"] == code and push.get("reconnect") is False, (push, code)
    return "closed", code


@pytest.mark.parametrize("frame", [
    "{not json",
    '{"id":5,"subscribe":{"channel":"x"}',
    "[1,2,3]",
    '"just a string"',
    "\x00\x01\x02",
    '{"id":5}',
], ids=["garbage", "truncated", "array", "string", "control-chars", "no-method"])
def test_malformed_command_gets_107_or_close_3002(server, client, bystander, frame):
    client.connect()
    kind, detail = _bad_frame_outcome(client, frame)
    if kind == "error":
        # A well-formed object without a method may fairly be "unknown method".
        allowed = {107, 104} if frame == '{"id":5}' else {107}
        assert detail.get("error", {}).get("code") in allowed, detail
        client.subscribe(unique("still-ok"))
    else:
        assert detail == 3002, f"closed with {detail}, want 3002"


def test_json_nested_10000_deep_gets_107_or_close_3002(server, client, bystander):
    client.connect()
    deep = "[" * 10000 + "]" * 10000
    frame = '{"id":9,"publish":{"channel":"x","eventType":"t","payload":' + deep + "}}"
    kind, detail = _bad_frame_outcome(client, frame)
    if kind == "error":
        assert detail.get("id") in (9, None, 0) and detail.get("error", {}).get("code") == 107, detail
    else:
        assert detail == 3002, f"closed with {detail}, want 3002"


def test_json_nested_within_depth_limit_is_accepted(server, client):
    ch = unique("depth")
    client.connect()
    client.subscribe(ch)
    payload = json.loads("[" * 30 + "]" * 30)
    r = client.call("publish", {"channel": ch, "eventType": "t", "payload": payload})
    assert r["publish"]["offset"] == 1, r
    assert client.wait_event(ch)["payload"] == payload


@pytest.mark.parametrize("first", [
    {"subscribe": {"channel": "news"}},
    {"publish": {"channel": "news", "eventType": "t", "payload": 1}},
    {"unsubscribe": {"channel": "news"}},
], ids=["subscribe", "publish", "unsubscribe"])
def test_command_before_connect_closes_3002(server, client, bystander, first):
    client.ws.send(json.dumps({"id": 1, **first}))
    code, reason, before = client.expect_closed()
    assert code == 3002, (code, reason, before)
    push = disconnect_push(before)
    if push is not None:
        assert push["code"] == 3002 and push.get("reconnect") is False, push
    assert not any(m.get("id") == 1 and first.keys() & m.keys() for m in before), \
        f"the command was executed before connect: {before}"


def test_binary_frame_on_native_protocol_is_refused(server, client, bystander):
    client.connect()
    client.ws.send(b'{"id":2,"subscribe":{"channel":"x"}}')
    try:
        msg = client.next_message(5)
    except ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else None
        assert code in (1003, 3002), code
        return
    push = disconnect_push([msg])
    if push is not None:
        code, _, _ = client.expect_closed()
        assert code in (1003, 3002) and push["code"] == code, (push, code)
        return
    assert msg.get("error", {}).get("code") == 107 or msg.get("id") == 2, msg


def test_message_over_max_message_bytes_closes_1009(server, client, bystander):
    client.connect()
    client.ws.send(json.dumps({"id": 2, "publish": {"channel": "x", "eventType": "t",
                                                   "payload": "a" * 70000}}))
    code, reason, _ = client.expect_closed()
    assert code in (1009, 3011), code


def test_publish_large_payload_under_limit(server, client):
    ch = unique("large")
    client.connect()
    client.subscribe(ch)
    payload = "b" * 60000
    r = client.call("publish", {"channel": ch, "eventType": "t", "payload": payload})
    assert r["publish"]["offset"] == 1, {k: str(v)[:100] for k, v in r.items()}
    assert client.wait_event(ch)["payload"] == payload


# ----- timeouts -------------------------------------------------------------------------

def test_no_connect_in_time_closes_3005(herald_factory):
    server = herald_factory(config="[limits]\nhandshake_timeout = 1.0\n")
    with NativeClient(server) as idle, NativeClient(server) as good:
        good.connect()
        t0 = time.monotonic()
        assert_disconnected(idle, 3005, timeout=5, reconnect=True)
        assert 0.5 <= time.monotonic() - t0 <= 4.0
        ch = unique("alive")
        good.subscribe(ch)
        publish(server, ch, 1)
        assert good.wait_event(ch)["offset"] == 1


def test_server_pings_and_closes_clients_that_do_not_answer(herald_factory):
    server = herald_factory(config="[limits]\nping_interval = 0.5\npong_timeout = 0.5\n")
    import rawws
    answering = rawws.RawWS.connect(server.host, server.port, "/connection/websocket")
    silent = rawws.RawWS.connect(server.host, server.port, "/connection/websocket")
    for ws in (answering, silent):
        ws.send_text(b'{"id":1,"connect":{}}')
    answering.recv_message()  # answers pings while it waits
    t0 = time.monotonic()
    pings = 0
    while time.monotonic() - t0 < 3.0:
        try:
            f = answering.recv_frame(0.2)
        except TimeoutError:
            continue
        if f.opcode == rawws.OP_PING:
            pings += 1
            answering.send_pong(f.payload)
    assert pings >= 3, f"{pings} pings in 3 s with ping_interval = 0.5"
    # The silent client has been dropped by now (Close frame or plain EOF).
    frames = []
    try:
        while True:
            frames.append(silent.recv_frame(0.5))
            if frames[-1].opcode == rawws.OP_CLOSE:
                break
    except rawws.Closed:
        pass
    except TimeoutError:
        raise AssertionError(f"a client that never answers pings is still open after 3 s: {frames}")
    # The answering one is not.
    answering.send_text(b'{"id":2,"subscribe":{"channel":"pinged"}}')
    op, data = answering.recv_message()
    assert b'"id":2' in data
    answering.close_socket()
    silent.close_socket()


def test_channel_in_unconfigured_namespace_follows_the_default_rules(server, client):
    ch = "nocfg:" + unique("room")
    client.connect()
    client.subscribe(ch)
    r = client.call("publish", {"channel": ch, "eventType": "t", "payload": 1})
    assert r.get("publish", {}).get("offset") == 1, r
    assert client.wait_event(ch)["offset"] == 1


def test_a_bad_command_in_a_frame_does_not_stop_the_others(server, client, bystander):
    ch = unique("mixed")
    client.send_lines('{"id":1,"connect":{}}', '{"id":2,"teleport":{}}',
                      json.dumps({"id": 3, "subscribe": {"channel": ch}}))
    assert "connect" in client.wait_reply(1)
    assert client.wait_reply(2)["error"]["code"] == 104
    assert "subscribe" in client.wait_reply(3)


def test_api_publish_with_idempotency_key_is_deduplicated(server, client):
    ch = unique("idem")
    client.connect()
    client.subscribe(ch)
    r1 = publish(server, ch, {"n": 1}, idempotencyKey="k-17")
    r2 = publish(server, ch, {"n": 1}, idempotencyKey="k-17")
    r3 = publish(server, ch, {"n": 2}, idempotencyKey="k-18")
    assert r1["offset"] == 1 and r2["offset"] == 1 and r3["offset"] == 2, (r1, r2, r3)
    assert [e["payload"] for e in client.events(ch, 2)] == [{"n": 1}, {"n": 2}]
    client.assert_no_event(ch, 0.3)


def test_channels_per_connection_limit_is_106(herald_factory):
    server = herald_factory(config="[limits]\nmax_channels_per_connection = 5\n")
    with NativeClient(server) as c:
        c.connect()
        for i in range(5):
            c.subscribe(f"lim-{i}")
        r = c.call("subscribe", {"channel": "lim-5"})
        assert r.get("error", {}).get("code") == 106, r
        c.call_ok("unsubscribe", {"channel": "lim-0"})
        c.subscribe("lim-5")


@pytest.mark.parametrize("trial", range(5))
def test_concurrent_publishers_all_subscribers_see_one_order(server, trial):
    """Eight protocol publishers (spread over both workers) fire frames of
    50 publishes at the same instant, and the API publishes too: every
    subscriber must see offsets 1..N in order. Races are probabilistic, so
    this runs five times."""
    import threading
    import rawws
    ch = unique("race")
    n_pub, frames, per_frame, api_events = 8, 5, 50, 200
    subs = [NativeClient(server) for _ in range(4)]
    pubs = []
    try:
        for c in subs:
            c.connect()
            c.subscribe(ch)
        for k in range(n_pub):
            ws = rawws.RawWS.connect(server.host, server.port, "/connection/websocket")
            ws.send_text(b'{"id":1,"connect":{}}\n' + json.dumps({"id": 2, "subscribe": {"channel": ch}}).encode())
            got = b""
            while b'"id":2' not in got:
                got += ws.recv_message()[1]
            data = b"".join(rawws.build_frame(rawws.OP_TEXT, "\n".join(
                json.dumps({"id": 10 + f * per_frame + i, "publish": {"channel": ch, "eventType": "ws",
                                                                      "payload": [k, f, i]}})
                for i in range(per_frame)).encode()) for f in range(frames))
            pubs.append((ws, data))
        barrier = threading.Barrier(n_pub + 1)

        def fire(ws, data):
            barrier.wait()
            ws.sock.sendall(data)

        def api_publisher():
            barrier.wait()
            for i in range(api_events // 20):
                api_ok(server, "batch", {"commands": [
                    {"publish": {"channel": ch, "eventType": "api", "payload": [i, j]}} for j in range(20)]})

        threads = [threading.Thread(target=fire, args=p) for p in pubs] + [threading.Thread(target=api_publisher)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = n_pub * frames * per_frame + api_events
        seqs = []
        for c in subs:
            offsets = [e["offset"] for e in c.events(ch, total, timeout=20)]
            assert sorted(offsets) == list(range(1, total + 1)), "events lost or duplicated"
            seqs.append(offsets)
        out_of_order = [i for i, q in enumerate(seqs) if q != list(range(1, total + 1))]
        if out_of_order:
            q = seqs[out_of_order[0]]
            j = next(x for x in range(total) if q[x] != x + 1)
            pytest.fail(f"{len(out_of_order)} of {len(seqs)} subscribers got events out of offset order, "
                        f"e.g. ... {q[max(0, j - 2):j + 6]} ...; identical orders: "
                        f"{all(x == seqs[0] for x in seqs)}")
    finally:
        for c in subs:
            c.close()
        for ws, _ in pubs:
            ws.close_socket()


def test_subscriber_churn_does_not_disturb_a_steady_subscriber(server):
    """Clients come and go (some vanish without a close) while events flow."""
    import random
    import socket as socketlib
    import struct
    import threading
    import rawws
    ch = unique("churn")
    steady = NativeClient(server)
    steady.connect()
    steady.subscribe(ch)
    stop = threading.Event()
    published = [0]

    def publisher():
        while not stop.is_set():
            api_ok(server, "batch", {"commands": [
                {"publish": {"channel": ch, "eventType": "t", "payload": published[0] + j}} for j in range(20)]})
            published[0] += 20
            time.sleep(0.005)

    t = threading.Thread(target=publisher)
    t.start()
    try:
        rng = random.Random(7)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            ws = rawws.RawWS.connect(server.host, server.port, "/connection/websocket")
            ws.send_text(b'{"id":1,"connect":{}}\n' + json.dumps({"id": 2, "subscribe": {"channel": ch}}).encode())
            ws.recv_message()
            how = rng.randrange(3)
            if how == 0:
                ws.send_close(1000)
            elif how == 1:  # vanish: RST
                ws.sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                ws.send_text(json.dumps({"id": 3, "unsubscribe": {"channel": ch}}).encode())
            ws.close_socket()
    finally:
        stop.set()
        t.join()
    n = published[0]
    assert n > 0
    evs = steady.events(ch, n, timeout=20)
    assert [e["offset"] for e in evs] == list(range(1, n + 1))
    steady.close()
    server.assert_alive()
