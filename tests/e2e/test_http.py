"""HTTP/1.1 transport, /health, /metrics and the server API's error contract.

Bad requests share one server per module with a subscribed bystander: each
must get its defined answer and leave the bystander served."""

from __future__ import annotations

import json
import os
import re
import socket
import time

import pytest

import rawws
from conftest import running_herald
from helpers import (Bystander, api, api_ok, assert_api_error, http_exchange, json_error_body,
                     publish, read_response, unique, NativeClient)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_herald(tmp_path_factory.mktemp("http")) as s:
        yield s


@pytest.fixture
def bystander(server):
    b = Bystander(server)
    yield b
    try:
        b.check()  # whatever the test did, the other client is still served
    finally:
        b.close()


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


# ----- good requests ------------------------------------------------------------

def test_health(server):
    status, headers, body, _ = http_exchange(server, get("/health"))
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_metrics_is_prometheus_text(server):
    status, headers, body, _ = http_exchange(server, get("/metrics"))
    assert status == 200
    assert headers.get("content-type", "").startswith("text/plain"), headers
    text = body.decode()
    samples = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert samples, "no metric samples"
    for line in samples:
        assert re.fullmatch(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? ([-+]?[0-9.eE+-]+|NaN|[+-]Inf)( -?[0-9]+)?',
                            line), line
    assert any(l.startswith("# TYPE ") for l in text.splitlines()), "no # TYPE lines"


def test_unknown_path_is_404(server, bystander):
    status, _, _, _ = http_exchange(server, get("/no/such/thing"))
    assert status == 404


def test_keep_alive_serves_several_requests_on_one_connection(server):
    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        leftover = b""
        for _ in range(3):
            s.sendall(get("/health"))
            status, headers, body, leftover = read_response(s, leftover=leftover)
            assert status == 200 and json.loads(body) == {"status": "ok"}
    finally:
        s.close()


def test_pipelined_requests_are_answered_in_order(server):
    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        ch = unique("pipe")
        body1 = json.dumps({"channel": ch, "eventType": "t", "payload": 1}).encode()
        body2 = json.dumps({"channel": ch, "eventType": "t", "payload": 2}).encode()
        req = (get("/health")
               + b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + server.api_key.encode()
               + b"\r\nContent-Length: " + str(len(body1)).encode() + b"\r\n\r\n" + body1
               + b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + server.api_key.encode()
               + b"\r\nContent-Length: " + str(len(body2)).encode() + b"\r\n\r\n" + body2
               + get("/no-such-path"))
        s.sendall(req)
        st, _, b, left = read_response(s)
        assert st == 200 and json.loads(b) == {"status": "ok"}
        st, _, b, left = read_response(s, leftover=left)
        assert st == 200 and json.loads(b)["result"]["offset"] == 1, b
        st, _, b, left = read_response(s, leftover=left)
        assert st == 200 and json.loads(b)["result"]["offset"] == 2, b
        st, _, b, left = read_response(s, leftover=left)
        assert st == 404
    finally:
        s.close()


def test_request_one_byte_at_a_time(server):
    ch = unique("bytewise")
    body = json.dumps({"channel": ch, "eventType": "t", "payload": {"x": 1}}).encode()
    req = (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + server.api_key.encode()
           + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
           + b"\r\n\r\n" + body)
    status, _, resp, _ = http_exchange(server, req, chunk=1, timeout=20)
    assert status == 200, resp
    assert json.loads(resp)["result"]["offset"] == 1


def test_chunked_request_body(server):
    ch = unique("chunked")
    with NativeClient(server) as c:
        c.connect()
        c.subscribe(ch)
        body = json.dumps({"channel": ch, "eventType": "t", "payload": {"chunked": True}}).encode()
        parts = [body[:7], body[7:20], body[20:]]
        chunked = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
        req = (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + server.api_key.encode()
               + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        status, _, resp, _ = http_exchange(server, req)
        assert status == 200, resp
        assert json.loads(resp)["result"]["offset"] == 1
        assert c.wait_event(ch)["payload"] == {"chunked": True}


# ----- malformed HTTP -------------------------------------------------------------

@pytest.mark.parametrize("garbage", [
    b"HELLO WORLD\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n",  # a TLS hello
    b"GET /health\r\n\r\n",                       # no version
    b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",   # unknown version
    b"GET /health HTTP/1.1\r\nNo colon here\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
], ids=["words", "tls", "no-version", "bad-version", "header-no-colon", "negative-length",
        "duplicate-length", "bad-chunk-size", "nul-in-header", "length-overflow"])
def test_garbage_gets_400(server, bystander, garbage):
    try:
        status, _, body, _ = exchange_then_eof(server, garbage)
    except rawws.Closed:
        pytest.fail("server closed the connection without a 400 answer")
    # HTTP/9.9 may fairly be 505; everything else is a plain bad request.
    allowed = {400, 505} if b"HTTP/9.9" in garbage else {400}
    if b"99999999999999999999999" in garbage:
        allowed = {400, 413}  # an overflowing length is also "too large"
    assert status in allowed, (status, body)
    json_error_body(body)


def exchange_then_eof(server, data: bytes):
    """One request whose answer must end the connection: the server cannot
    find the next request after a malformed one."""
    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, body, extra = read_response(s)
        deadline = time.monotonic() + 3
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                pytest.fail(f"connection left open after a {status} answer to a malformed request")
            except ConnectionResetError:
                break
            if not chunk:
                break
        return status, headers, body, extra
    finally:
        s.close()


def test_request_line_too_long_gets_414(server, bystander):
    req = b"GET /" + b"a" * (64 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, _, body, _ = exchange_then_eof(server, req)
    assert status == 414, body


def test_headers_too_large_get_431(server, bystander):
    headers = "".join(f"X-Filler-{i}: {'v' * 200}\r\n" for i in range(200))  # ~42 KiB
    req = f"GET /health HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()
    status, _, body, _ = exchange_then_eof(server, req)
    assert status == 431, body


def test_one_huge_header_gets_431(server, bystander):
    req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"z" * (32 * 1024) + b"\r\n\r\n"
    status, _, body, _ = exchange_then_eof(server, req)
    assert status == 431, body


def test_endless_headers_never_ending_are_cut_at_the_limit(server, bystander):
    """Headers that keep coming without the blank line: answered 431 once past
    the limit, without waiting for the end."""
    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        status = None
        buf = b""
        for i in range(400):
            try:
                s.sendall(f"X-H{i}: {'q' * 100}\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                break
        status, _, _, _ = read_response(s, leftover=buf)
        assert status == 431
    finally:
        s.close()


# ----- the server API's errors ----------------------------------------------------

def test_api_without_key_is_401(server, bystander):
    status, reply = api(server, "publish", {"channel": "x", "eventType": "t", "payload": 1}, key=None)
    assert_api_error(status, reply, 401, 101)


def test_api_with_wrong_key_is_401(server, bystander):
    status, reply = api(server, "info", {}, key="wrong-" + server.api_key)
    assert_api_error(status, reply, 401, 101)


def test_api_key_is_not_accepted_as_prefix(server, bystander):
    status, reply = api(server, "info", {}, key=server.api_key[:-1])
    assert_api_error(status, reply, 401, 101)


def test_api_unknown_method_is_404(server, bystander):
    status, reply = api(server, "noSuchMethod", {})
    assert_api_error(status, reply, 404, 104)


def test_api_bad_json_is_400(server, bystander):
    status, reply = api(server, "publish", raw=b'{"channel": "x", "eventType": ')
    assert_api_error(status, reply, 400, 107)


def test_api_deeply_nested_json_is_400(server, bystander):
    deep = b'{"channel":"x","eventType":"t","payload":' + b"[" * 10000 + b"]" * 10000 + b"}"
    status, reply = api(server, "publish", raw=deep)
    assert_api_error(status, reply, 400, 107)


@pytest.mark.parametrize("body", [
    [],
    {"channel": 5, "eventType": "t", "payload": 1},
    {"channel": "x", "eventType": ["t"], "payload": 1},
    {"channel": "x", "eventType": "t", "payload": 1, "version": "one"},
    {"eventType": "t", "payload": 1},
], ids=["array", "channel-int", "eventtype-array", "version-string", "no-channel"])
def test_api_publish_wrong_types_are_400(server, bystander, body):
    status, reply = api(server, "publish", body)
    # A missing channel may fairly be answered "unknown channel".
    assert_api_error(status, reply, 400, {107, 102} if "channel" not in body else 107)


def test_api_body_over_limit_is_413(server, bystander):
    big = b'{"channel":"x","eventType":"t","payload":"' + b"a" * (1024 * 1024 + 10) + b'"}'
    status, reply = api(server, "publish", raw=big)
    assert_api_error(status, reply, 413, {111, 106})


def test_api_announced_huge_body_is_413_without_sending_it(server, bystander):
    req = (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + server.api_key.encode()
           + b"\r\nContent-Length: 2147483648\r\n\r\n{")
    status, _, body, _ = http_exchange(server, req)
    assert status == 413
    json_error_body(body)


def test_api_chunked_body_over_limit_is_413(server, bystander):
    s = socket.create_connection((server.host, server.port), timeout=10)
    try:
        s.sendall(b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + server.api_key.encode()
                  + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 65536
        for _ in range(20):  # 1.25 MiB, over the 1 MiB limit
            try:
                s.sendall(b"10000\r\n" + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
        status, _, body, _ = read_response(s)
        assert status == 413
    finally:
        s.close()


def test_api_get_method_is_refused(server, bystander):
    status, reply = api(server, "info", None, http_method="GET")
    assert status in (404, 405), (status, reply)


# ----- the server API's methods -------------------------------------------------------

def test_api_publish_returns_offset_and_epoch(server):
    ch = unique("apipub")
    r1 = publish(server, ch, {"a": 1})
    r2 = publish(server, ch, {"a": 2})
    assert r1["offset"] == 1 and r2["offset"] == 2, (r1, r2)
    assert isinstance(r1["epoch"], str) and r1["epoch"] == r2["epoch"], (r1, r2)


def test_api_broadcast_reaches_every_channel(server):
    chans = [unique("bc") for _ in range(3)]
    with NativeClient(server) as c:
        c.connect()
        for ch in chans:
            c.subscribe(ch)
        res = api_ok(server, "broadcast", {"channels": chans, "eventType": "b", "payload": {"k": "v"}})
        assert isinstance(res.get("responses"), list) and len(res["responses"]) == 3, res
        for ch in chans:
            ev = c.wait_event(ch)
            assert ev["eventType"] == "b" and ev["payload"] == {"k": "v"} and ev["offset"] == 1, ev


def test_api_channels_and_info_count_clients(server):
    ch = unique("count")
    clients = [NativeClient(server) for _ in range(3)]
    try:
        for c in clients:
            c.connect()
            c.subscribe(ch)
        res = api_ok(server, "channels", {})
        assert res["channels"][ch]["numClients"] == 3, res
        res = api_ok(server, "channels", {"pattern": ch})
        assert list(res["channels"]) == [ch], res
        info = api_ok(server, "info", {})
        nodes = info["nodes"]
        assert isinstance(nodes, list) and len(nodes) == 1, info
        node = nodes[0]
        for key in ("name", "version", "uptime", "numClients", "numUsers", "numChannels"):
            assert key in node, (key, node)
        assert node["numClients"] >= 3 and node["numChannels"] >= 1, node
    finally:
        for c in clients:
            c.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        res = api_ok(server, "channels", {})
        if res["channels"].get(ch, {"numClients": 0})["numClients"] == 0:
            break
        time.sleep(0.05)
    assert res["channels"].get(ch, {"numClients": 0})["numClients"] == 0, \
        f"channel still has clients after every subscriber left: {res}"


def test_api_batch_publishes_in_order(server):
    ch = unique("batch")
    with NativeClient(server) as c:
        c.connect()
        c.subscribe(ch)
        cmds = [{"publish": {"channel": ch, "eventType": "t", "payload": {"i": i}}} for i in range(50)]
        res = api_ok(server, "batch", {"commands": cmds})
        replies = res["replies"]
        assert len(replies) == 50, res
        assert [r["publish"]["offset"] for r in replies] == list(range(1, 51)), replies[:3]
        evs = c.events(ch, 50)
        assert [e["offset"] for e in evs] == list(range(1, 51))
        assert [e["payload"]["i"] for e in evs] == list(range(50))


def test_api_disconnect_closes_the_client_with_3009(server):
    from helpers import assert_disconnected
    with NativeClient(server) as victim, NativeClient(server) as other:
        victim.connect()
        other.connect()
        ch = unique("dc")
        other.subscribe(ch)
        api_ok(server, "disconnect", {"user": victim.user or "", "client": victim.client_id})
        assert_disconnected(victim, 3009, reconnect=False)
        publish(server, ch, 1)
        assert other.wait_event(ch)["offset"] == 1


def metric_samples(server) -> dict[str, float]:
    status, body = server.http_get("/metrics", port=server.api_port)
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_bad_input_is_counted(herald):
    """Each refused input increments a rejection counter in /metrics."""
    def rejections():
        return sum(v for k, v in metric_samples(herald).items() if k.startswith("herald_rejections_total"))

    before = rejections()
    http_exchange(herald, b"HELLO WORLD\r\n\r\n")
    assert rejections() >= before + 1, "garbage HTTP was not counted"
    status, _ = api(herald, "info", {}, key="wrong")
    assert status == 401
    assert rejections() >= before + 2, "a wrong API key was not counted"
    ws = rawws.RawWS.connect(herald.host, herald.port, "/connection/websocket")
    ws.send_text(b"\xff")
    assert ws.expect_close().code == 1007
    deadline = time.monotonic() + 2
    while rejections() < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rejections() >= before + 3, "invalid UTF-8 was not counted"


def test_expect_100_continue(server):
    """curl sends Expect: 100-continue for bodies over 1 KiB and waits for it."""
    ch = unique("expect")
    body = json.dumps({"channel": ch, "eventType": "t", "payload": "e" * 2000}).encode()
    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        s.sendall(b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + server.api_key.encode()
                  + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nExpect: 100-continue\r\n\r\n")
        s.settimeout(1.0)
        try:
            interim = s.recv(65536)
        except socket.timeout:
            pytest.fail("no 100 Continue (nor a final answer) to Expect: 100-continue within 1 s")
        assert interim.startswith(b"HTTP/1.1 100"), interim
        rest = interim.split(b"\r\n\r\n", 1)[1]
        s.sendall(body)
        status, _, resp, _ = read_response(s, leftover=rest)
        assert status == 200 and json.loads(resp)["result"]["offset"] == 1, resp
    finally:
        s.close()


def test_connection_close_is_honoured(server):
    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, body, extra = read_response(s)
        assert status == 200
        s.settimeout(3)
        assert s.recv(100) == b"", "connection left open after Connection: close"
    finally:
        s.close()


def test_http_1_0_request(server):
    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        status, _, body, _ = read_response(s)
        assert status == 200 and json.loads(body) == {"status": "ok"}
    finally:
        s.close()


def test_query_string_is_ignored_for_routing(server):
    status, _, body, _ = http_exchange(server, get("/health?probe=1"))
    assert status == 200 and json.loads(body) == {"status": "ok"}
