"""Fan-out at scale, slow consumers and graceful shutdown, against the real
binary with two workers.

- 1,000 clients on one channel each receive 10,000 events, offsets 1..10000
  in order. Ten of them are `websockets` library clients, the rest the lean
  asyncio client of fastws.py (a full RFC 6455 client that reads in bulk).
- A client that stops reading is disconnected with 3006 while the others
  keep receiving at the publishing rate.
- SIGTERM: every client gets 3001, the server exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import threading
import time

import pytest
from websockets.asyncio.client import connect as ws_connect_async
from websockets.exceptions import ConnectionClosed

import rawws
from fastws import FastSubscriber
from helpers import api_ok, disconnect_push, unique

N_CLIENTS = 1000
N_LIB_CLIENTS = 10
N_EVENTS = 10_000
BATCH = 500


async def lib_subscriber(server, channel: str):
    ws = await ws_connect_async(server.ws_url(), proxy=None, compression=None, ping_interval=None,
                                max_size=None, open_timeout=30)
    await ws.send('{"id":1,"connect":{}}\n' + json.dumps({"id": 2, "subscribe": {"channel": channel}}))
    seen = set()
    while seen != {1, 2}:
        for line in (await asyncio.wait_for(ws.recv(), 30)).split("\n"):
            if line.strip():
                msg = json.loads(line)
                assert "error" not in msg, msg
                seen.add(msg.get("id"))
    return ws


async def lib_consume(ws, total: int) -> list[int]:
    offsets = []
    while len(offsets) < total:
        frame = await ws.recv()
        for line in frame.split("\n"):
            if line.strip():
                msg = json.loads(line)
                offsets.append(msg["push"]["event"]["offset"])
    return offsets


def publish_all(server, channel: str, total: int) -> list[int]:
    offsets = []
    for start in range(0, total, BATCH):
        cmds = [{"publish": {"channel": channel, "eventType": "load", "payload": {"i": i}}}
                for i in range(start, min(total, start + BATCH))]
        res = api_ok(server, "batch", {"commands": cmds})
        offsets += [r["publish"]["offset"] for r in res["replies"]]
    return offsets


def thread_cpu_ticks(pid: int) -> dict[int, int]:
    """utime + stime of each thread of a process, in clock ticks."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[int(task)] = int(fields[11]) + int(fields[12])
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_1000_clients_receive_10000_events_in_offset_order(herald_factory):
    server = herald_factory(workers=2)
    channel = unique("fanout")

    async def main():
        fast: list[FastSubscriber] = []
        for start in range(0, N_CLIENTS - N_LIB_CLIENTS, 100):
            n = min(100, N_CLIENTS - N_LIB_CLIENTS - start)
            fast += await asyncio.gather(*(FastSubscriber.open(server.host, server.port, channel)
                                           for _ in range(n)))
        libs = [await lib_subscriber(server, channel) for _ in range(N_LIB_CLIENTS)]
        numclients = api_ok(server, "channels", {"pattern": channel})["channels"][channel]["numClients"]
        assert numclients == N_CLIENTS, numclients

        cpu0 = thread_cpu_ticks(server.proc.pid)
        t0 = time.monotonic()
        consumers = [asyncio.create_task(s.consume(N_EVENTS)) for s in fast]
        lib_tasks = [asyncio.create_task(lib_consume(ws, N_EVENTS)) for ws in libs]
        published = await asyncio.to_thread(publish_all, server, channel, N_EVENTS)
        t_pub = time.monotonic() - t0
        assert published == list(range(1, N_EVENTS + 1)), "batch replies are not offsets 1..N in order"

        done, pending = await asyncio.wait(consumers + lib_tasks, timeout=200)
        elapsed = time.monotonic() - t0
        for t in pending:
            t.cancel()
        lagging = [s.next_offset - 1 for s in fast if s.next_offset <= N_EVENTS and s.error is None]
        errors = [s.error for s in fast if s.error]
        assert not errors, f"{len(errors)} clients failed, e.g. {errors[:5]}"
        assert not pending, f"{len(pending)} clients still waiting after {elapsed:.0f}s; got {lagging[:10]}"
        for t in lib_tasks:
            assert t.result() == list(range(1, N_EVENTS + 1)), "a websockets client saw another order"
        for s in fast:
            assert s.next_offset == N_EVENTS + 1
            s.close()
        for ws in libs:
            await ws.close()
        # Both workers delivered: SO_REUSEPORT spread the clients over them,
        # so the two busiest threads each did a fair share of the work.
        cpu1 = thread_cpu_ticks(server.proc.pid)
        used = sorted((cpu1[t] - cpu0.get(t, 0) for t in cpu1), reverse=True)
        assert sum(used) > 0
        assert used[1] >= 0.2 * sum(used), f"work was not spread over 2 workers: thread CPU ticks {used}"
        rate = N_CLIENTS * N_EVENTS / elapsed
        print(f"\n{N_CLIENTS} clients x {N_EVENTS} events: published in {t_pub:.1f}s, "
              f"all delivered in {elapsed:.1f}s ({rate / 1e6:.2f} M deliveries/s incl. Python client cost); "
              f"server thread CPU ticks {used[:4]}")

    asyncio.run(main())


# ----- slow consumer ---------------------------------------------------------------------

SLOW_CONFIG = """
[limits]
max_queue_bytes = 262144
"""


@pytest.mark.timeout(120)
def test_client_that_stops_reading_gets_3006_and_others_keep_their_rate(herald_factory):
    """Publishing 4 MB/s for 4 s: the slow client's queue (256 KiB here, plus
    at most 4 MiB of kernel send buffer) overflows within about a second. It
    pauses reading, then reads what it has: events 1..k in order, then
    disconnect 3006. The fast clients get every event, on time."""
    server = herald_factory(workers=2, config=SLOW_CONFIG)
    channel = unique("slow")
    payload = "s" * 4096
    rate = 1000            # events/s
    total = 4000
    per_batch = 20
    # The slow client resumes reading once more has been published than any
    # buffering can hold (4 MiB kernel + 256 KiB queue = ~1030 events), so it
    # has surely been cut off, and well within the server's 2 s close linger.
    resume_after = 1300

    slow = rawws.RawWS.connect(server.host, server.port, "/connection/websocket", rcvbuf=4096)
    slow.send_text(b'{"id":1,"connect":{}}\n' + json.dumps({"id": 2, "subscribe": {"channel": channel}}).encode())
    got = b""
    while b'"id":2' not in got:
        got += slow.recv_message()[1]

    async def main():
        fast = [await lib_subscriber(server, channel) for _ in range(3)]
        latencies: list[float] = []
        offsets: list[list[int]] = [[] for _ in fast]
        others: list[dict] = []

        async def reader(i, ws):
            while len(offsets[i]) < total:
                frame = await ws.recv()
                now_ms = time.time() * 1000
                for line in frame.split("\n"):
                    if line.strip():
                        msg = json.loads(line)
                        ev = msg.get("push", {}).get("event")
                        if ev is None:
                            others.append(msg)
                            raise AssertionError(f"fast client got {msg} after {len(offsets[i])} events")
                        offsets[i].append(ev["offset"])
                        latencies.append(now_ms - ev["timestamp"])

        resume = threading.Event()

        def publisher():
            t_start = time.monotonic()
            for k in range(total // per_batch):
                cmds = [{"publish": {"channel": channel, "eventType": "big", "payload": payload}}
                        for _ in range(per_batch)]
                api_ok(server, "batch", {"commands": cmds})
                if (k + 1) * per_batch >= resume_after:
                    resume.set()
                delay = t_start + (k + 1) * per_batch / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            return time.monotonic()

        def slow_client():
            assert resume.wait(60)
            time.sleep(0.1)
            return slow.expect_close(timeout=30)

        readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(fast)]
        slow_task = asyncio.create_task(asyncio.to_thread(slow_client))
        t_last_publish = await asyncio.to_thread(publisher)
        done, pending = await asyncio.wait(readers, timeout=30)
        t_done = time.monotonic()
        for t in pending:
            t.cancel()
        for t in done:
            t.result()
        assert not pending, f"fast clients stalled: received {[len(o) for o in offsets]}"
        for o in offsets:
            assert o == list(range(1, total + 1)), "a fast client lost or reordered events"
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99)]
        print(f"\nfast clients: latency median {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, "
              f"max {latencies[-1]:.1f} ms; done {t_done - t_last_publish:.2f}s after the last publish")
        assert p99 < 500, f"fast clients slowed down: p99 latency {p99:.0f} ms"
        assert t_done - t_last_publish < 2.0
        for ws in fast:
            await ws.close()
        return await slow_task

    res = asyncio.run(main())
    try:
        assert res.got_close_frame, f"slow client got no Close frame: {res}"
        assert res.code == 3006, f"slow client closed with {res.code}, want 3006: {res}"
        msgs = [json.loads(l) for f in res.frames_before if f.opcode == rawws.OP_TEXT
                for l in f.payload.split(b"\n") if l.strip()]
        events = [m["push"]["event"]["offset"] for m in msgs if "push" in m and "event" in m["push"]]
        print(f"slow client: {len(events)} events, then close {res.code}")
        assert events == list(range(1, len(events) + 1)), "slow client's events before the cut are not 1..k"
        assert len(events) < total, "the slow client was never cut off"
        push = disconnect_push(msgs)
        if push is not None:
            assert push["code"] == 3006 and push["reconnect"] is True, push
    finally:
        slow.close_socket()
    chans = api_ok(server, "channels", {})["channels"]
    assert channel not in chans or chans[channel]["numClients"] == 0, chans


# ----- graceful shutdown -----------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_signal_sends_3001_to_everyone_and_exits_0(herald_factory, node_ws, sig):
    from test_node_clients import NodeProc
    server = herald_factory(workers=2)
    channel = unique("shutdown")
    nodes = []
    for _ in range(3):
        p = NodeProc(node_ws, "subscriber.js", server.ws_url(), channel, "0", "deflate")
        assert p.read_line().get("ready") is True
        nodes.append(p)
    raw = []
    for _ in range(5):
        r = rawws.RawWS.connect(server.host, server.port, "/connection/websocket")
        r.send_text(b'{"id":1,"connect":{}}')
        r.recv_message()
        raw.append(r)
    # A client that has the WebSocket open but has not sent connect yet.
    pre = rawws.RawWS.connect(server.host, server.port, "/connection/websocket")

    async def main():
        clients = []
        for _ in range(30):
            clients.append(await lib_subscriber(server, channel))
        t0 = time.monotonic()
        server.exit_expected = True
        server.proc.send_signal(sig)

        async def outcome(ws):
            msgs = []
            try:
                while True:
                    frame = await asyncio.wait_for(ws.recv(), 10)
                    msgs += [json.loads(l) for l in frame.split("\n") if l.strip()]
            except ConnectionClosed as e:
                return (e.rcvd.code if e.rcvd else None), msgs

        results = await asyncio.gather(*(outcome(ws) for ws in clients))
        return results, time.monotonic() - t0

    results, took = asyncio.run(main())
    for code, msgs in results:
        assert code == 3001, f"websockets client closed with {code}, want 3001; got {msgs[-2:]}"
        push = disconnect_push(msgs)
        if push is not None:
            assert push["code"] == 3001 and push["reconnect"] is True, push
    for r in raw + [pre]:
        res = r.expect_close(timeout=10)
        assert res.got_close_frame and res.code == 3001, res
    for p in nodes:
        lines = p.finish()
        closes = [l["close"] for l in lines if "close" in l]
        assert closes == [3001], lines
    code = server.proc.wait(15)
    assert code == 0, f"herald exited {code} after {sig!r}:\n{server.log_tail()}"
    assert took < 10
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=1).close()


@pytest.mark.timeout(60)
def test_shutdown_is_not_held_up_by_a_client_that_does_not_read(herald_factory):
    """shutdown_timeout (default 5 s) bounds the goodbye even for a client
    whose socket is full; the readers still get 3001."""
    server = herald_factory(workers=2)
    channel = unique("stuck")
    stuck = rawws.RawWS.connect(server.host, server.port, "/connection/websocket", rcvbuf=4096)
    stuck.send_text(b'{"id":1,"connect":{}}\n' + json.dumps({"id": 2, "subscribe": {"channel": channel}}).encode())
    got = b""
    while b'"id":2' not in got:
        got += stuck.recv_message()[1]
    reader = rawws.RawWS.connect(server.host, server.port, "/connection/websocket")
    reader.send_text(b'{"id":1,"connect":{}}')
    reader.recv_message()
    # Fill the stuck client's buffers (less than the 4 MiB queue limit beyond them).
    for _ in range(10):
        api_ok(server, "batch", {"commands": [{"publish": {"channel": channel, "eventType": "t",
                                                           "payload": "z" * 8000}} for _ in range(20)]})
    t0 = time.monotonic()
    server.exit_expected = True
    server.proc.send_signal(signal.SIGTERM)
    res = reader.expect_close(timeout=10)
    assert res.got_close_frame and res.code == 3001, res
    code = server.proc.wait(15)
    took = time.monotonic() - t0
    assert code == 0, server.log_tail()
    assert took < 8, f"shutdown took {took:.1f}s with a stuck client (shutdown_timeout is 5 s)"
    stuck.close_socket()
