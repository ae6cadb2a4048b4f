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
