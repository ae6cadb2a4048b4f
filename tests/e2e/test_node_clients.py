"""Interop with the Node `ws` client (tests/e2e/node/*.js): subscribing,
publishing over the native protocol, /echo with and without
permessage-deflate. The scripts print JSON lines that are asserted here."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers import NativeClient, api_ok, unique

pytestmark = pytest.mark.timeout(60)

BIG = """
[limits]
max_message_bytes = 1048576
"""


class NodeProc:
    def __init__(self, node_dir, script: str, *args: str):
        self.proc = subprocess.Popen(["node", str(node_dir / "node" / script), *args], cwd=node_dir,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[dict] = []

    def read_line(self, timeout: float = 10.0) -> dict:
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.proc.kill()
            raise AssertionError(f"node printed nothing in {timeout}s; stderr={self.proc.stderr.read()}")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"node exited {self.proc.wait()}: {self.proc.stderr.read()}")
        msg = json.loads(line)
        self.lines.append(msg)
        return msg

    def finish(self, timeout: float = 30.0) -> list[dict]:
        try:
            stdout, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            stdout, stderr = self.proc.communicate()
            raise AssertionError(f"node did not finish in {timeout}s; stdout tail={stdout[-500:]!r} stderr={stderr!r}")
        assert self.proc.returncode == 0, f"node exited {self.proc.returncode}: {stderr}"
        self.lines += [json.loads(l) for l in stdout.splitlines() if l.strip()]
        errors = [l for l in self.lines if "error" in l]
        assert not errors, errors
        return self.lines


@pytest.mark.parametrize("mode", ["deflate", "plain"])
def test_node_subscriber_receives_api_publications(herald, node_ws, mode):
    ch = unique("node")
    sub = NodeProc(node_ws, "subscriber.js", herald.ws_url(), ch, "100", mode)
    ready = sub.read_line()
    assert ready.get("ready") is True, ready
    if mode == "deflate":
        assert "permessage-deflate" in ready["extensions"], ready
    else:
        assert ready["extensions"] == "", ready
    cmds = [{"publish": {"channel": ch, "eventType": "n", "payload": {"i": i, "s": "ü" * i}}} for i in range(100)]
    api_ok(herald, "batch", {"commands": cmds})
    lines = sub.finish()
    events = [l["event"] for l in lines if "event" in l]
    assert [e["offset"] for e in events] == list(range(1, 101))
    assert [e["payload"] for e in events] == [{"i": i, "s": "ü" * i} for i in range(100)]
    assert all(e["eventType"] == "n" and e["version"] == 1 and isinstance(e["timestamp"], int) for e in events)
    assert lines[-1] == {"done": True}


def test_node_publishes_to_python_and_node_subscribers(herald, node_ws):
    ch = unique("nodepub")
    with NativeClient(herald) as py:
        py.connect()
        py.subscribe(ch)
        sub = NodeProc(node_ws, "subscriber.js", herald.ws_url(), ch, "50", "deflate")
        assert sub.read_line().get("ready") is True
        pub = NodeProc(node_ws, "publisher.js", herald.ws_url(), ch, "50")
        result = pub.finish()[-1]
        assert result["offsets"] == list(range(1, 51)), result
        assert result["events"] == list(range(1, 51)), result
        evs = py.events(ch, 50)
        assert [e["offset"] for e in evs] == list(range(1, 51))
        assert evs[0]["eventType"] == "node.event" and evs[0]["version"] == 2
        assert evs[7]["payload"] == {"j": 7, "text": "from node ✓"}
        assert isinstance(evs[0]["publisher"]["client"], str)
        node_events = [l["event"] for l in sub.finish() if "event" in l]
        assert node_events == evs


@pytest.mark.parametrize("mode", ["deflate", "plain"])
def test_node_echo_round_trips(herald_factory, node_ws, mode):
    server = herald_factory(echo=True, config=BIG)
    lines = NodeProc(node_ws, "echo.js", server.ws_url("/echo"), mode).finish()
    assert lines[-1]["ok"] == 19, lines
    if mode == "deflate":
        assert lines[-1]["extensions"].startswith("permessage-deflate"), lines
    else:
        assert lines[-1]["extensions"] == "", lines


def test_node_client_disconnected_by_api_gets_3009(herald, node_ws):
    ch = unique("nodedc")
    sub = NodeProc(node_ws, "subscriber.js", herald.ws_url(), ch, "0", "deflate")
    ready = sub.read_line()
    assert ready.get("ready") is True, ready
    chans = api_ok(herald, "channels", {})["channels"]
    assert chans[ch]["numClients"] == 1, chans
    me = ready["connect"]
    api_ok(herald, "disconnect", {"user": me.get("user", ""), "client": me["client"]})
    lines = sub.finish()
    closes = [l for l in lines if "close" in l]
    assert closes and closes[-1]["close"] == 3009, lines
    pushes = [l["disconnect"] for l in lines if "disconnect" in l]
    if pushes:
        assert pushes[0]["code"] == 3009 and pushes[0]["reconnect"] is False, pushes
