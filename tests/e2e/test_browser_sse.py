"""examples/dashboard.html in a real browser (system Chromium driven by
playwright-core, tests/e2e/node/sse_browser.js) against the real server:
the page is served from another origin (a Python http.server on its own
port), so the stream goes through CORS; it opens, shows an event published
through the API, and, when Herald is restarted on the same port mid-stream,
reconnects by itself (EventSource's own retry), says the events could not be
replayed (a new memory engine has new epochs), and shows the events published
after the restart."""

from __future__ import annotations

import json
import pathlib
import selectors
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from conftest import REPO, free_port
from helpers import publish, unique

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if pathlib.Path("/usr/bin/chromium").exists() else None)

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/deps test installs it)"),
]

CONFIG = """
[sse]
retry = 0.5
"""


class StaticServer:
    """python3 -m http.server over examples/, on 127.0.0.1:<own port>."""

    def __init__(self, directory: pathlib.Path):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                      "--directory", str(directory)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/dashboard.html", timeout=1) as r:
                    assert r.status == 200
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise AssertionError("http.server did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Browser:
    """The node driver: one command line in, one JSON answer out."""

    def __init__(self, node_dir: pathlib.Path, url: str):
        self.proc = subprocess.Popen(["node", str(node_dir / "node" / "sse_browser.js"), url, CHROMIUM],
                                     cwd=node_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        loaded = self.read(30)
        assert loaded.get("loaded") is True, loaded
        self.page_id = loaded["pageId"]

    def read(self, timeout: float) -> dict:
        if not self.sel.select(timeout):
            self.proc.kill()
            raise AssertionError(f"the browser driver said nothing in {timeout}s; stderr={self.proc.stderr.read()}")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the browser driver exited {self.proc.wait()}: {self.proc.stderr.read()}")
        return json.loads(line)

    def ask(self, cmd: dict, timeout: float = 20) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        reply = self.read(timeout)
        assert "error" not in reply, reply
        return reply

    def wait_status(self, status: str, timeout_ms: int = 10000) -> dict:
        return self.ask({"waitStatus": status, "timeout": timeout_ms}, timeout=timeout_ms / 1000 + 10)

    def wait_row(self, timeout_ms: int = 10000, **want) -> dict:
        return self.ask({"waitRow": {k: str(v) for k, v in want.items()}, "timeout": timeout_ms},
                        timeout=timeout_ms / 1000 + 10)["row"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def static_examples():
    server = StaticServer(REPO / "examples")
    try:
        yield server
    finally:
        server.stop()


def test_dashboard_shows_events_and_survives_a_server_restart(herald_factory, node_ws, static_examples):
    server = herald_factory(config=CONFIG)
    ch = unique("dashboard")
    herald_url = f"http://{server.host}:{server.port}"
    query = urllib.parse.urlencode({"server": herald_url, "channels": ch})
    page_url = f"http://127.0.0.1:{static_examples.port}/dashboard.html?{query}"
    assert static_examples.port != server.port  # another origin: CORS is exercised

    browser = Browser(node_ws, page_url)
    try:
        opened = browser.wait_status("open")
        assert opened["history"][-1] == "open", opened

        first = publish(server, ch, {"cpu": 0.42, "note": "line1\nline2"}, event_type="metrics.cpu")
        row = browser.wait_row(channel=ch, offset=first["offset"])
        assert row["eventType"] == "metrics.cpu", row
        assert '{"cpu":0.42,"note":"line1\\nline2"}' in row["text"], row

        # Restart Herald on the same port, mid-stream: SIGTERM (the page gets
        # retry: and disconnect 3001), then a new process.
        assert server.stop() == 0, server.log_tail()
        server.start()
        # The page reconnects by itself and learns the old positions are gone.
        marker = browser.wait_row(channel=ch, marker="reloaded", timeout_ms=20000)
        assert marker["offset"] == "0", marker
        browser.wait_status("open", timeout_ms=20000)

        after = publish(server, ch, {"cpu": 0.99}, event_type="metrics.after")
        assert after["epoch"] != first["epoch"]
        row = browser.wait_row(channel=ch, offset=after["offset"], eventType="metrics.after")
        assert '{"cpu":0.99}' in row["text"], row

        state = browser.ask({"state": True})
        history = state["history"]
        # open -> (the stream dropped) reconnecting -> open, and no reload.
        assert history[0] == "open" and "reconnecting" in history and history[-1] == "open", history
        assert state["pageId"] == browser.page_id, "the page was loaded again"
        events = [r for r in state["rows"] if "marker" not in r]
        assert [(r["offset"], r["eventType"]) for r in events] == [("1", "metrics.after"), ("1", "metrics.cpu")], \
            state["rows"]
        errors = [c for c in state["console"] if c.startswith("pageerror")]
        assert not errors, state["console"]
    finally:
        browser.close()
