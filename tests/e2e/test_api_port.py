"""A separate listener for the server API and /metrics ([api] port): there,
/api/* and /metrics answer and WebSocket does not; on the client port
/api/* and /metrics are 404; /health and /ready answer on both."""
from __future__ import annotations

import json

from conftest import free_port
from helpers import NativeClient, api, publish, unique


def test_api_and_metrics_move_to_the_api_port(herald_factory):
    api_port = free_port()
    server = herald_factory(api_port=api_port)
    client_port = server.port

    # The client port: probes and WebSocket, no API, no metrics.
    for path in ("/health", "/ready"):
        assert server.http_get(path)[0] == 200, path
        assert server.http_get(path, port=api_port)[0] == 200, path
    status, body = server.http_get("/metrics")
    assert status == 404 and json.loads(body)["error"]["code"] == 104
    conn = server.http_connection()
    try:
        conn.request("POST", "/api/info", body=b"{}", headers={"X-API-Key": server.api_key})
        r = conn.getresponse()
        assert r.status == 404, r.read()
        r.read()
    finally:
        conn.close()

    # The API port: the API and metrics, no WebSocket.
    status, body = server.http_get("/metrics", port=api_port)
    assert status == 200 and b"herald_connections" in body
    assert server.http_get("/connection/websocket", port=api_port)[0] == 404
    status, reply = api(server, "info", {})
    assert status == 200 and "nodes" in reply["result"], reply

    # Publishing on the API port reaches a client of the client port.
    ch = unique("apiport")
    assert server.api_port == api_port and server.port == client_port
    with NativeClient(server) as c:
        c.connect()
        c.subscribe(ch)
        publish(server, ch, {"via": "api port"})
        assert c.wait_event(ch)["payload"] == {"via": "api port"}
