"""Operations endpoints and logs: /ready, and the server API's access log
(`[log] api_access`, an extension documented in docs/configuration.md)."""
from __future__ import annotations

import json
import time

from helpers import NativeClient, api, publish, unique


def test_ready_when_listening(herald):
    status, body = herald.http_get("/ready")
    assert status == 200
    assert json.loads(body) == {"status": "ready"}


def wait_for_log(server, needle: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.log_text().splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_api_access_log_in_json(herald_factory):
    server = herald_factory(config='[log]\napi_access = true\nformat = "json"\n')
    publish(server, unique("acc"), {"a": 1})
    status, _ = api(server, "publish", {"channel": "x"}, key="wrong")
    assert status == 401
    lines = wait_for_log(server, "api publish")
    records = [json.loads(line) for line in lines]
    messages = [r["msg"] for r in records]
    assert any(" 200 " in m and "from 127.0.0.1" in m for m in messages), records
    assert any(" 401 " in m for m in messages), records
    assert all(r.get("level") == "info" for r in records), records
    assert all(isinstance(r.get("conn"), int) for r in records), records


def test_api_access_log_is_off_by_default(herald):
    publish(herald, unique("acc"), 1)
    assert wait_for_log(herald, "api publish", timeout=0.5) == []


def test_delivery_latency_and_engine_operations_are_measured(herald):
    """Each delivered event is timed from the engine to the subscribers'
    queues, and every engine call is counted by operation."""
    from test_http import metric_samples

    before = metric_samples(herald)
    channel = unique("lat")
    with NativeClient(herald) as client:
        client.connect()
        client.subscribe(channel)
        for i in range(5):
            publish(herald, channel, {"i": i})
        client.events(channel, 5)
    after = metric_samples(herald)

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    assert delta("herald_publish_enqueue_duration_seconds_count") == 5
    assert delta('herald_publish_enqueue_duration_seconds_bucket{le="+Inf"}') == 5
    # A loopback fan-out to one subscriber is far below a second.
    assert delta('herald_publish_enqueue_duration_seconds_bucket{le="1"}') == 5
    assert 0 < delta("herald_publish_enqueue_duration_seconds_sum") < 5
    assert delta('herald_broker_operations_total{operation="publish"}') == 5
    assert delta('herald_broker_operations_total{operation="subscribe"}') == 1
