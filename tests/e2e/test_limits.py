"""The limits of issue 4, each tested at the limit and at limit + 1.

Connections in total, per client IP, and connects per second per IP: the
client over them gets disconnect 3008 (reconnect with backoff), is counted in
/metrics, and a place freed by a closing client can be taken again. Commands
per second (110, then 3007), channels per connection (106), message size
(close 1009), out-queue bytes (3006) and JSON nesting depth (3002). The
per-user publish rate is in test_auth.py."""
from __future__ import annotations

import json
import time

from helpers import NativeClient, assert_disconnected, publish, unique
from test_http import metric_samples


def refused(server) -> float:
    return metric_samples(server).get('herald_rejections_total{reason="connection_limit"}', 0.0)


def open_connected(server, n: int) -> list[NativeClient]:
    clients = []
    for _ in range(n):
        c = NativeClient(server)
        c.connect()
        clients.append(c)
    return clients


def assert_refused(server) -> None:
    with NativeClient(server) as extra:
        extra.send("connect", {})
        assert_disconnected(extra, 3008, reconnect=True)


def test_max_connections(herald_factory):
    server = herald_factory(config="[limits]\nmax_connections = 3\n")
    clients = open_connected(server, 3)  # at the limit: all admitted
    try:
        assert_refused(server)  # limit + 1
        assert refused(server) == 1
        # The admitted ones are untouched.
        ch = unique("limit")
        clients[0].subscribe(ch)
        publish(server, ch, 1)
        assert clients[0].wait_event(ch)["offset"] == 1
        # A closed client frees its place.
        clients.pop().close()
        deadline = time.monotonic() + 5
        while True:
            c = NativeClient(server)
            c.send("connect", {})
            reply = c.next_message(timeout=5)
            if "connect" in reply:
                clients.append(c)
                break
            c.close()
            assert time.monotonic() < deadline, f"place not freed: {reply}"
            time.sleep(0.1)
    finally:
        for c in clients:
            c.close()


def test_max_connections_per_ip(herald_factory):
    server = herald_factory(config="[limits]\nmax_connections_per_ip = 2\n")
    clients = open_connected(server, 2)
    try:
        assert_refused(server)
        assert_refused(server)
        assert refused(server) == 2
    finally:
        for c in clients:
            c.close()


def test_connect_rate_per_ip(herald_factory):
    # A bucket of 2 tokens refilled at 2 per second.
    server = herald_factory(config="[limits]\nconnect_rate_per_ip = 2.0\n")
    clients = open_connected(server, 2)  # the burst
    try:
        assert_refused(server)  # the third within the same instant
        time.sleep(0.6)  # a token back
        clients += open_connected(server, 1)
        assert refused(server) == 1
    finally:
        for c in clients:
            c.close()


def test_commands_per_second(herald_factory):
    # A bucket of 4 commands, refilled at 4 per second; connect is one.
    server = herald_factory(config="[limits]\ncommands_per_second = 4.0\n")
    with NativeClient(server) as c, NativeClient(server) as other:
        c.connect()
        other.connect()
        for i in range(3):  # at the limit: 4 commands in the first instant
            c.call_ok("subscribe", {"channel": unique(f"rate{i}")})
        over = c.call("subscribe", {"channel": unique("over")})  # limit + 1
        assert over.get("error", {}).get("code") == 110, over
        assert refused_by_rate(server) == 1
        time.sleep(0.6)  # two tokens back
        c.call_ok("subscribe", {"channel": unique("again")})
        # Another connection has its own bucket.
        other.call_ok("subscribe", {"channel": unique("other")})


def test_sustained_excess_is_disconnected_with_3007(herald_factory):
    server = herald_factory(config="[limits]\ncommands_per_second = 2.0\n")
    with NativeClient(server) as c, NativeClient(server) as bystander:
        bystander.connect()
        c.connect()
        # One token left, then refusals; after a second's worth of them (2),
        # the next one disconnects.
        for i in range(5):
            c.send("subscribe", {"channel": unique(f"flood{i}")})
        assert_disconnected(c, 3007, reconnect=True)
        ch = unique("alive")
        bystander.subscribe(ch)
        publish(server, ch, 1)
        assert bystander.wait_event(ch)["offset"] == 1


def refused_by_rate(server) -> float:
    return metric_samples(server).get('herald_rejections_total{reason="rate_limited"}', 0.0)


def test_idle_timeout_closes_silent_clients_only(herald_factory):
    server = herald_factory(config="[limits]\nidle_timeout = 1.0\nping_interval = 60.0\n")
    with NativeClient(server) as silent, NativeClient(server) as chatty:
        silent.connect()
        chatty.connect()
        t0 = time.monotonic()
        deadline = t0 + 2.5
        while time.monotonic() < deadline:  # chatty sends something every 0.3 s
            chatty.call_ok("subscribe", {"channel": unique("keep")})
            time.sleep(0.3)
        assert_disconnected(silent, 3005, timeout=3, reconnect=True)
        chatty.call_ok("subscribe", {"channel": unique("still")})


def rejected(server, reason: str) -> float:
    return metric_samples(server).get(f'herald_rejections_total{{reason="{reason}"}}', 0.0)


def test_channels_per_connection(herald_factory):
    server = herald_factory(config="[limits]\nmax_channels_per_connection = 3\n")
    with NativeClient(server) as c:
        c.connect()
        for i in range(3):  # at the limit
            c.subscribe(unique(f"ch{i}"))
        over = c.call("subscribe", {"channel": unique("over")})  # limit + 1
        assert over.get("error", {}).get("code") == 106, over
        assert rejected(server, "limit_exceeded") == 1


def command_of_size(size: int, channel: str) -> str:
    """A publish command of exactly `size` bytes."""
    head = json.dumps({"id": 7, "publish": {"channel": channel, "eventType": "t", "payload": ""}})
    text = head.replace('"payload": ""', '"payload": "' + "a" * (size - len(head)) + '"')
    assert len(text) == size
    return text


def test_message_size(herald_factory):
    server = herald_factory(config="[limits]\nmax_message_bytes = 1024\n")
    with NativeClient(server) as c, NativeClient(server) as bystander:
        bystander.connect()
        c.connect()
        ch = unique("size")
        c.subscribe(ch)
        c.ws.send(command_of_size(1024, ch))  # at the limit
        assert "publish" in c.wait_reply(7), c.inbox
        c.ws.send(command_of_size(1025, ch))  # limit + 1
        code, _, _ = c.expect_closed()
        assert code in (1009, 3011), code
        assert rejected(server, "ws_too_large") == 1
        bystander.subscribe(unique("alive"))


def push_frame_bytes(client: NativeClient, server, payload_len: int) -> int:
    """Bytes of the WebSocket frame that carries one event with a string
    payload of `payload_len` bytes on a fresh channel (offset 1)."""
    ch = unique("probe")
    client.subscribe(ch)
    publish(server, ch, "a" * payload_len)
    raw = client.ws.recv(timeout=5)
    text = raw.encode() if isinstance(raw, str) else raw
    assert json.loads(text)["push"]["event"]["offset"] == 1, text[:200]
    return len(text) + (2 if len(text) < 126 else 4)  # server frames are unmasked


def test_out_queue_bytes(herald_factory):
    limit = 8192
    server = herald_factory(config=f"[limits]\nmax_queue_bytes = {limit}\n")
    with NativeClient(server) as probe:
        probe.connect()
        base = push_frame_bytes(probe, server, 1000)
        at_limit = 1000 + (limit - base)
        assert push_frame_bytes(probe, server, at_limit) == limit
    with NativeClient(server) as c:
        c.connect()
        # One frame of exactly the limit fits an empty queue...
        ch = unique("queue")
        c.subscribe(ch)
        publish(server, ch, "a" * at_limit)
        assert c.wait_event(ch)["payload"] == "a" * at_limit
        # ...one byte more does not: slow consumer.
        ch = unique("queue")
        c.subscribe(ch)
        publish(server, ch, "a" * (at_limit + 1))
        assert_disconnected(c, 3006, reconnect=True)


def nested_publish(channel: str, levels: int) -> str:
    """A publish whose payload adds `levels` nested arrays under the command
    object (level 1) and the publish object (level 2)."""
    payload = "[" * levels + "1" + "]" * levels
    return '{"id":5,"publish":{"channel":"' + channel + '","eventType":"t","payload":' + payload + "}}"


def test_json_nesting_depth(herald_factory):
    server = herald_factory(config="[limits]\nmax_json_depth = 8\n")
    with NativeClient(server) as c:
        c.connect()
        ch = unique("depth")
        c.subscribe(ch)
        c.ws.send(nested_publish(ch, 6))  # depth 8: at the limit
        assert "publish" in c.wait_reply(5), c.inbox
        c.ws.send(nested_publish(ch, 7))  # depth 9: not a command Herald reads
        assert_disconnected(c, 3002)
        assert rejected(server, "bad_command") == 1
