"""Presence and join/leave pushes, end to end (issue 5): several users and
connections, the token's info in entries, and a connection that dies without
a goodbye leaving presence."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from helpers import NativeClient, api, api_ok, assert_api_error, close_abruptly, unique

SECRET = "presence-test-secret"
CONFIG = """
[[namespace]]
name = "room"
presence = true
join_leave = true

[[namespace]]
name = "quiet"
presence = true

[[namespace]]
name = "plain"
"""


def token(user: str, info: dict | None = None) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = {"sub": user, "exp": int(time.time()) + 600}
    if info is not None:
        claims["info"] = info
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def start(herald_factory):
    return herald_factory(config=CONFIG, args=["--hmac-secret", SECRET])


def joined(client: NativeClient, user: str | None = None, info: dict | None = None, *, channel: str) -> NativeClient:
    client.connect({"token": token(user, info)} if user is not None else {})
    client.subscribe(channel)
    return client


def wait_presence_push(client: NativeClient, channel: str, kind: str, timeout: float = 5.0) -> dict:
    msg = client.wait_for(lambda m: "push" in m and m["push"].get("channel") == channel and kind in m["push"],
                          timeout, f"{kind} on {channel}")
    return msg["push"][kind]


def test_presence_join_and_leave_with_several_users(herald_factory):
    server = start(herald_factory)
    channel = unique("room:lobby")
    alice1 = joined(NativeClient(server), "alice", {"name": "Alice"}, channel=channel)
    alice2 = joined(NativeClient(server), "alice", {"name": "Alice"}, channel=channel)
    push = wait_presence_push(alice1, channel, "join")
    assert push == {"client": alice2.client_id, "user": "alice", "info": {"name": "Alice"}}
    bob = joined(NativeClient(server), "bob", channel=channel)
    for c in (alice1, alice2):
        assert wait_presence_push(c, channel, "join") == {"client": bob.client_id, "user": "bob"}

    clients = api_ok(server, "presence", {"channel": channel})["clients"]
    assert set(clients) == {alice1.client_id, alice2.client_id, bob.client_id}
    assert clients[alice1.client_id] == {"client": alice1.client_id, "user": "alice", "info": {"name": "Alice"}}
    assert clients[bob.client_id] == {"client": bob.client_id, "user": "bob"}
    assert api_ok(server, "presenceStats", {"channel": channel}) == {"numClients": 3, "numUsers": 2}
    # The same over the native protocol.
    assert bob.call_ok("presence", {"channel": channel})["clients"] == clients
    assert bob.call_ok("presenceStats", {"channel": channel}) == {"numClients": 3, "numUsers": 2}

    # Unsubscribe: a leave for the others.
    bob.call_ok("unsubscribe", {"channel": channel})
    for c in (alice1, alice2):
        assert wait_presence_push(c, channel, "leave") == {"client": bob.client_id, "user": "bob"}
    assert api_ok(server, "presenceStats", {"channel": channel}) == {"numClients": 2, "numUsers": 1}

    # An abrupt TCP close (no Close frame): the server notices at once and
    # the client leaves presence.
    close_abruptly(alice2)
    push = wait_presence_push(alice1, channel, "leave")
    assert push["client"] == alice2.client_id and push["user"] == "alice"
    assert api_ok(server, "presenceStats", {"channel": channel}) == {"numClients": 1, "numUsers": 1}

    # A disconnect through the API leaves too.
    api_ok(server, "disconnect", {"user": "bob"})
    api_ok(server, "disconnect", {"user": "alice"})
    deadline = time.monotonic() + 5
    while api_ok(server, "presenceStats", {"channel": channel})["numClients"] != 0:
        assert time.monotonic() < deadline, "presence not empty after the disconnects"
        time.sleep(0.02)
    for c in (alice1, alice2, bob):
        c.close()


def test_presence_without_join_leave_pushes_nothing(herald_factory):
    server = start(herald_factory)
    channel = unique("quiet:x")
    first = joined(NativeClient(server), channel=channel)
    second = joined(NativeClient(server), channel=channel)
    assert api_ok(server, "presenceStats", {"channel": channel}) == {"numClients": 2, "numUsers": 1}
    second.close()
    deadline = time.monotonic() + 5
    while api_ok(server, "presenceStats", {"channel": channel})["numClients"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.assert_no_event(channel, 0.2)
    assert not any("join" in m.get("push", {}) or "leave" in m.get("push", {}) for m in first.inbox), first.inbox
    first.close()


def test_presence_needs_a_namespace_with_presence(herald_factory):
    server = start(herald_factory)
    channel = unique("plain:x")
    for method in ("presence", "presenceStats"):
        status, body = api(server, method, {"channel": channel})
        assert_api_error(status, body, 501, 108)
    status, body = api(server, "presence", {})
    assert_api_error(status, body, 400, 107)
    with NativeClient(server) as c:
        c.connect()
        assert c.call("presence", {"channel": channel})["error"]["code"] == 108
        assert c.call("presenceStats", {"channel": channel})["error"]["code"] == 108


def test_api_subscribes_and_unsubscribes_a_users_connections(herald_factory):
    server = herald_factory(config=CONFIG, args=["--hmac-secret", SECRET], workers=2)
    channel = unique("room:api")
    carol = [NativeClient(server) for _ in range(3)]
    for c in carol:
        c.connect({"token": token("carol")})
    dave = NativeClient(server)
    dave.connect({"token": token("dave")})

    api_ok(server, "subscribe", {"user": "carol", "channel": channel})
    for c in carol:
        push = c.wait_for(lambda m: m.get("push", {}).get("subscribe") is not None, 5, "subscribe push")["push"]
        assert push["channel"] == channel
        assert push["subscribe"]["offset"] == 0 and isinstance(push["subscribe"]["epoch"], str)
    assert api_ok(server, "presenceStats", {"channel": channel}) == {"numClients": 3, "numUsers": 1}
    api_ok(server, "publish", {"channel": channel, "eventType": "e", "payload": 1})
    for c in carol:
        assert c.wait_event(channel)["offset"] == 1
    dave.assert_no_event(channel, 0.1)
    # Already subscribed: left alone, no second push.
    api_ok(server, "subscribe", {"user": "carol", "channel": channel})
    assert carol[0].call("subscribe", {"channel": channel})["error"]["code"] == 105

    # One client only.
    api_ok(server, "unsubscribe", {"user": "carol", "client": carol[0].client_id, "channel": channel})
    push = carol[0].wait_for(lambda m: m.get("push", {}).get("unsubscribe") is not None, 5, "unsubscribe push")
    assert push["push"] == {"channel": channel, "unsubscribe": {}}
    api_ok(server, "publish", {"channel": channel, "eventType": "e", "payload": 2})
    for c in carol[1:]:
        assert c.wait_event(channel)["offset"] == 2
    carol[0].assert_no_event(channel, 0.2)
    assert api_ok(server, "presenceStats", {"channel": channel}) == {"numClients": 2, "numUsers": 1}

    status, body = api(server, "subscribe", {"channel": channel})
    assert_api_error(status, body, 400, 107)
    status, body = api(server, "subscribe", {"user": "carol", "channel": "bad channel"})
    assert_api_error(status, body, 400, 102)
    for c in carol + [dave]:
        c.close()
