"""Operations endpoints and logs: /ready, and the server API's access log
(`[log] api_access`, an extension documented in docs/configuration.md)."""
from __future__ import annotations

import json
import time

from helpers import api, publish, unique


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
