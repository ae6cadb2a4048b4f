"""History, recovery and idempotent publish, end to end (issue 5).

The property test races publishers (native clients and the server API)
against subscribers that drop their connections at random and come back with
their last position; every subscriber must see each offset exactly once and
in order, or be told `recovered: false` and go on from the position it got.
"""

from __future__ import annotations

import random
import threading
import time

from conftest import HeraldServer
from helpers import NativeClient, api, api_ok, assert_api_error, close_abruptly, publish, unique

CONFIG = """
[engine]
max_recovery_events = 200

[[namespace]]
name = "h"
publish = "any"
history_size = 5000
history_ttl = 300

[[namespace]]
name = "plain"
publish = "any"
"""


def start(herald_factory, **kw) -> HeraldServer:
    return herald_factory(config=CONFIG, **kw)


def offsets(events: list[dict]) -> list[int]:
    return [e["offset"] for e in events]


# ----- the property test ------------------------------------------------------


class Subscriber(threading.Thread):
    """Follows one channel through random disconnects, checking each step."""

    def __init__(self, server, channel: str, total: int, done: threading.Event, seed: int):
        super().__init__(daemon=True)
        self.server, self.channel, self.total, self.done = server, channel, total, done
        self.rng = random.Random(seed)
        self.last: int | None = None
        self.epoch: str | None = None
        self.seen: list[int] = []
        self.reconnects = self.recovered = self.not_recovered = self.recovered_events = 0
        self.errors: list[str] = []

    def fail(self, what: str) -> None:
        self.errors.append(what)

    def take(self, offset: int) -> None:
        if offset != self.last + 1:
            self.fail(f"offset {offset} after {self.last}")
        self.last = offset
        self.seen.append(offset)

    def run(self) -> None:
        try:
            self.loop()
        except Exception as e:  # reported by the test, not lost in the thread
            self.fail(f"{type(e).__name__}: {e}")

    def loop(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            client = NativeClient(self.server)
            client.connect()
            params = {"channel": self.channel}
            if self.last is not None:
                params["since"] = {"offset": self.last, "epoch": self.epoch}
            reply = client.call_ok("subscribe", params, timeout=10)
            if self.last is None:
                self.last, self.epoch = reply["offset"], reply["epoch"]
            elif reply.get("recovered") is True:
                self.recovered += 1
                self.recovered_events += len(reply["events"])
                if reply["epoch"] != self.epoch:
                    self.fail(f"recovered across epochs {self.epoch} -> {reply['epoch']}")
                for ev in reply["events"]:
                    self.take(ev["offset"])
                if self.last != reply["offset"]:
                    self.fail(f"recovered up to {self.last}, position {reply['offset']}")
            elif reply.get("recovered") is False:
                # Told plainly: go on from the state given.
                self.not_recovered += 1
                self.last, self.epoch = reply["offset"], reply["epoch"]
            else:
                self.fail(f"subscribe with since and no 'recovered': {reply!r}")
            stay = time.monotonic() + self.rng.uniform(0.02, 0.3)
            while True:
                finished = self.done.is_set() and self.last >= self.total
                if finished or (time.monotonic() > stay and not self.done.is_set()):
                    break
                try:
                    msg = client.next_message(timeout=0.05)
                except TimeoutError:
                    continue
                if "push" in msg and "event" in msg["push"]:
                    self.take(msg["push"]["event"]["offset"])
            if self.done.is_set() and self.last >= self.total:
                client.close()
                return
            self.reconnects += 1
            if self.rng.random() < 0.5:
                close_abruptly(client)
            else:
                client.close()
            time.sleep(self.rng.uniform(0, 0.3))
        self.fail(f"did not reach offset {self.total} (at {self.last})")


def test_subscribers_reconnecting_at_random_miss_nothing(herald_factory):
    server = start(herald_factory, workers=2)
    channel = unique("h:prop")
    per_publisher, ws_publishers = 800, 2
    total = per_publisher * (ws_publishers + 1)
    done = threading.Event()
    subs = [Subscriber(server, channel, total, done, seed) for seed in range(4)]
    for s in subs:
        s.start()
    # Every subscriber holds a position before the first event.
    deadline = time.monotonic() + 10
    while any(s.last is None for s in subs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(s.last == 0 for s in subs), [s.errors for s in subs]

    errors: list[str] = []

    def ws_publisher(n: int) -> None:
        try:
            with NativeClient(server) as c:
                c.connect()
                for i in range(per_publisher):
                    c.call_ok("publish", {"channel": channel, "eventType": "n", "payload": {"p": n, "i": i}})
                    time.sleep(0.002)
        except Exception as e:
            errors.append(f"publisher {n}: {e}")

    def api_publisher() -> None:
        try:
            for i in range(per_publisher):
                publish(server, channel, {"p": "api", "i": i})
        except Exception as e:
            errors.append(f"api publisher: {e}")

    pubs = [threading.Thread(target=ws_publisher, args=(n,)) for n in range(ws_publishers)]
    pubs.append(threading.Thread(target=api_publisher))
    for t in pubs:
        t.start()
    for t in pubs:
        t.join(60)
    assert not errors, errors
    done.set()
    for s in subs:
        s.join(60)
        assert not s.is_alive(), "subscriber hung"

    for i, s in enumerate(subs):
        print(f"subscriber {i}: {s.reconnects} reconnects, {s.recovered} recovered "
              f"({s.recovered_events} events), {s.not_recovered} not recovered")
        assert not s.errors, s.errors
        assert s.last == total
        # Strictly increasing: nothing twice, nothing out of order. Without a
        # recovered:false, nothing missing either.
        assert all(a < b for a, b in zip(s.seen, s.seen[1:]))
        if s.not_recovered == 0:
            assert s.seen == list(range(1, total + 1))
    assert sum(s.reconnects for s in subs) > 0
    assert sum(s.recovered_events for s in subs) > 0, "no reconnect recovered anything"
    server.assert_alive()


# ----- restart, idempotency, history ------------------------------------------


def test_a_restart_changes_the_epoch_and_recovery_says_so(herald_factory):
    first = start(herald_factory)
    channel = unique("h:restart")
    for i in range(3):
        publish(first, channel, {"i": i})
    old = api_ok(first, "history", {"channel": channel})
    assert old["offset"] == 3 and offsets(old["events"]) == [1, 2, 3]
    first.exit_expected = True
    assert first.stop() == 0

    second = start(herald_factory)
    publish(second, channel, {"i": "after"})
    with NativeClient(second) as c:
        c.connect()
        reply = c.subscribe(channel, since={"offset": 3, "epoch": old["epoch"]})
        assert reply["recovered"] is False, reply
        assert reply["epoch"] != old["epoch"]
        assert reply["offset"] == 1
        assert "events" not in reply
        # History from a position of the old epoch is refused plainly too.
        r = c.call("history", {"channel": channel, "since": {"offset": 3, "epoch": old["epoch"]}})
        assert r["error"]["code"] == 112, r
    status, body = api(second, "history", {"channel": channel, "since": {"offset": 0, "epoch": old["epoch"]}})
    assert_api_error(status, body, 409, 112)


def test_ten_thousand_publishes_with_a_thousand_keys_leave_a_thousand_events(herald_factory):
    server = start(herald_factory)
    channel = unique("h:idem")
    offsets_by_key: dict[str, int] = {}
    for batch in range(10):
        commands = [{"publish": {"channel": channel, "eventType": "k", "payload": {"b": batch},
                                 "idempotencyKey": f"key-{i % 1000}"}}
                    for i in range(batch * 1000, batch * 1000 + 1000)]
        replies = api_ok(server, "batch", {"commands": commands})["replies"]
        assert len(replies) == 1000
        for i, r in enumerate(replies):
            key = commands[i]["publish"]["idempotencyKey"]
            got = r["publish"]["offset"]
            assert offsets_by_key.setdefault(key, got) == got, (key, got)
    history = api_ok(server, "history", {"channel": channel})
    assert history["offset"] == 1000
    assert offsets(history["events"]) == list(range(1, 1001))
    assert all(e["payload"] == {"b": 0} for e in history["events"]), "duplicates changed nothing"


def test_history_reads_with_since_limit_reverse_and_remove(herald_factory):
    server = start(herald_factory)
    channel = unique("h:read")
    for i in range(10):
        publish(server, channel, {"i": i}, event_type="e")
    full = api_ok(server, "history", {"channel": channel})
    epoch = full["epoch"]
    assert offsets(full["events"]) == list(range(1, 11))
    ev = full["events"][0]
    assert ev["eventType"] == "e" and ev["payload"] == {"i": 0} and ev["version"] == 1
    assert isinstance(ev["timestamp"], int)
    since = {"offset": 7, "epoch": epoch}
    assert offsets(api_ok(server, "history", {"channel": channel, "since": since})["events"]) == [8, 9, 10]
    assert offsets(api_ok(server, "history", {"channel": channel, "limit": 2, "reverse": True})["events"]) == [10, 9]
    assert offsets(api_ok(server, "history", {"channel": channel, "since": since, "limit": 2,
                                              "reverse": True})["events"]) == [6, 5]
    assert api_ok(server, "history", {"channel": channel, "limit": 0})["events"] == []

    with NativeClient(server) as c:
        c.connect()
        got = c.call_ok("history", {"channel": channel, "since": since, "limit": 1})
        assert offsets(got["events"]) == [8] and got["offset"] == 10 and got["epoch"] == epoch
        # A client's own publish carries its identity into history.
        c.call_ok("publish", {"channel": channel, "eventType": "e", "payload": 1})
        last = c.call_ok("history", {"channel": channel, "limit": 1, "reverse": True})["events"][0]
        assert last["publisher"] == {"user": "", "client": c.client_id}

    removed = api_ok(server, "historyRemove", {"channel": channel})
    assert removed["offset"] == 11 and removed["epoch"] == epoch
    after = api_ok(server, "history", {"channel": channel})
    assert after["events"] == [] and after["offset"] == 11
    with NativeClient(server) as c:
        c.connect()
        reply = c.subscribe(channel, since={"offset": 5, "epoch": epoch})
        assert reply["recovered"] is False and reply["offset"] == 11, reply


def test_history_needs_a_namespace_with_history(herald_factory):
    server = start(herald_factory)
    channel = unique("plain:x")
    publish(server, channel, {})
    for method in ("history", "historyRemove"):
        status, body = api(server, method, {"channel": channel})
        assert_api_error(status, body, 501, 108)
    status, body = api(server, "history", {"channel": "bad channel"})
    assert_api_error(status, body, 400, 102)
    with NativeClient(server) as c:
        c.connect()
        assert c.call("history", {"channel": channel})["error"]["code"] == 108
        # Without history, recovery works only when nothing was missed.
        pos = c.subscribe(channel)
        c2 = NativeClient(server)
        c2.connect()
        assert c2.subscribe(channel, since={"offset": pos["offset"], "epoch": pos["epoch"]})["recovered"] is True
        publish(server, channel, {})
        c3 = NativeClient(server)
        c3.connect()
        assert c3.subscribe(channel, since={"offset": pos["offset"], "epoch": pos["epoch"]})["recovered"] is False
        c2.close()
        c3.close()


def test_recovery_over_max_recovery_events_is_refused(herald_factory):
    server = start(herald_factory)
    channel = unique("h:max")
    with NativeClient(server) as c:
        c.connect()
        pos = c.subscribe(channel)
    commands = [{"publish": {"channel": channel, "eventType": "e", "payload": i}} for i in range(201)]
    api_ok(server, "batch", {"commands": commands})
    with NativeClient(server) as c:
        c.connect()
        reply = c.subscribe(channel, since={"offset": pos["offset"], "epoch": pos["epoch"]})
        assert reply["recovered"] is False and reply["offset"] == 201, reply
    with NativeClient(server) as c:
        c.connect()
        reply = c.subscribe(channel, since={"offset": 1, "epoch": pos["epoch"]})
        assert reply["recovered"] is True and offsets(reply["events"]) == list(range(2, 202))
        # Live events continue right after the recovered ones.
        publish(server, channel, "live")
        assert c.wait_event(channel)["offset"] == 202
    status, body = server.http_get("/metrics")
    assert status == 200
    text = body.decode()
    assert 'herald_recoveries_total{recovered="true"} 1\n' in text, text
    assert 'herald_recoveries_total{recovered="false"} 1\n' in text, text
