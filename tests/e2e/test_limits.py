"""Connection limits: in total, per client IP, and connects per second per
IP. Each is tested at the limit and at limit + 1: the client over it gets
disconnect 3008 (reconnect with backoff), is counted in /metrics, and a place
freed by a closing client can be taken again."""
from __future__ import annotations

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
