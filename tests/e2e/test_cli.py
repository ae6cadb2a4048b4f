"""The command line and configuration contract: version, genconfig, the
precedence defaults < file < environment < flags, [testing] echo, JSON logs,
anonymous connections off by default."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import tomllib

import pytest

from conftest import HOST, free_port, herald_bin
from helpers import NativeClient, disconnect_push
from rawws import OP_TEXT, RawWS

pytestmark = pytest.mark.timeout(60)


def run(*args: str, env: dict | None = None, timeout: float = 10) -> subprocess.CompletedProcess:
    penv = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    penv.update(env or {})
    return subprocess.run([str(herald_bin()), *args], capture_output=True, text=True, timeout=timeout, env=penv)


def health(port: int) -> bool:
    import http.client
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=0.5)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


class Proc:
    """herald serve with exactly the given arguments and environment."""

    def __init__(self, tmp_path, args: list[str], env: dict | None = None):
        penv = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        penv.update(env or {})
        self.log = tmp_path / f"herald-{time.monotonic_ns()}.log"
        self.f = open(self.log, "wb")
        self.proc = subprocess.Popen([str(herald_bin()), "serve", *args], stdout=self.f,
                                     stderr=subprocess.STDOUT, env=penv)

    def wait_port(self, ports: list[int], timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            for p in ports:
                if health(p):
                    return p
            time.sleep(0.05)
        raise AssertionError(f"no /health on any of {ports}:\n{self.log.read_text()}")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(15)
        self.f.close()
        text = self.log.read_text()
        assert code == 0, f"exit {code}:\n{text}"
        return text


def test_version():
    r = run("version")
    assert r.returncode == 0, r.stderr
    assert "herald" in r.stdout.lower() and any(c.isdigit() for c in r.stdout), r.stdout


def test_genconfig_prints_every_section_with_defaults():
    r = run("genconfig")
    assert r.returncode == 0, r.stderr
    cfg = tomllib.loads(r.stdout)
    for section in ("server", "tls", "api", "auth", "limits", "engine", "log", "testing"):
        assert section in cfg, f"[{section}] missing from genconfig"
    assert cfg["server"]["port"] == 8000
    assert cfg["limits"]["max_message_bytes"] == 65536
    assert cfg["limits"]["max_queue_bytes"] == 4 * 1024 * 1024
    assert cfg["auth"]["allow_anonymous"] is False
    assert cfg["testing"]["echo"] is False
    assert cfg["engine"]["type"] == "memory"
    for key in ("max_connections", "max_connections_per_ip", "connect_rate_per_ip", "commands_per_second",
                "max_channels_per_connection", "handshake_timeout", "idle_timeout"):
        assert key in cfg["limits"], key
    assert r.stdout.count("#") >= 10, "genconfig should comment its keys"


def test_genconfig_output_is_a_valid_config(tmp_path):
    cfg = tmp_path / "gen.toml"
    cfg.write_text(run("genconfig").stdout)
    port = free_port()
    p = Proc(tmp_path, ["--config", str(cfg), "--address", HOST, "--port", str(port), "--workers", "1"])
    assert p.wait_port([port]) == port
    p.stop()


def test_precedence_file_env_flag(tmp_path):
    p_file, p_env, p_flag = free_port(), free_port(), free_port()
    cfg = tmp_path / "h.toml"
    cfg.write_text(f'[server]\naddress = "{HOST}"\nport = {p_file}\nworkers = 1\n')
    ports = [p_file, p_env, p_flag]

    p = Proc(tmp_path, ["--config", str(cfg)])
    assert p.wait_port(ports) == p_file
    p.stop()

    p = Proc(tmp_path, ["--config", str(cfg)], env={"HERALD_SERVER_PORT": str(p_env)})
    assert p.wait_port(ports) == p_env
    p.stop()

    p = Proc(tmp_path, ["--config", str(cfg), "--port", str(p_flag)], env={"HERALD_SERVER_PORT": str(p_env)})
    assert p.wait_port(ports) == p_flag
    p.stop()


def test_bad_config_is_refused_with_a_message(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[limits]\nmax_message_bytes = "lots"\n')
    r = run("serve", "--config", str(cfg), "--port", str(free_port()))
    assert r.returncode != 0
    assert "max_message_bytes" in (r.stdout + r.stderr), r.stdout + r.stderr


@pytest.mark.parametrize("how", ["config", "env"])
def test_echo_enabled_by_config_or_environment(tmp_path, how):
    port = free_port()
    args = ["--address", HOST, "--port", str(port), "--workers", "1"]
    env = {}
    if how == "config":
        cfg = tmp_path / "echo.toml"
        cfg.write_text("[testing]\necho = true\n")
        args += ["--config", str(cfg)]
    else:
        env["HERALD_TESTING_ECHO"] = "true"
    p = Proc(tmp_path, args, env)
    try:
        p.wait_port([port])
        ws = RawWS.connect(HOST, port, "/echo")
        ws.send_text(b"hello echo")
        assert ws.recv_message() == (OP_TEXT, b"hello echo")
        ws.close_socket()
    finally:
        p.stop()


def test_json_logs(tmp_path):
    port = free_port()
    p = Proc(tmp_path, ["--address", HOST, "--port", str(port), "--workers", "1", "--log-format", "json",
                        "--log-level", "debug"], env={"HERALD_AUTH_ALLOW_ANONYMOUS": "true"})
    try:
        p.wait_port([port])
        for payload in (b'{"id":1,"subscribe":{"channel":"x"}}', b"\xff"):
            ws = RawWS.connect(HOST, port, "/connection/websocket")
            ws.send_text(payload)  # a command before connect; invalid UTF-8
            ws.expect_close()
    finally:
        text = p.stop()
    lines = [l for l in text.splitlines() if l.strip()]
    assert lines
    objs = []
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        objs.append(obj)
    assert any(any("conn" in k.lower() for k in o) for o in objs), \
        f"no log line about a connection carries its id: {lines}"


def test_anonymous_connect_is_refused_by_default(herald_factory):
    server = herald_factory(anonymous=False)
    with NativeClient(server) as c:
        c.ws.send('{"id":1,"connect":{}}')
        from websockets.exceptions import ConnectionClosed
        try:
            msg = c.next_message(5)
        except ConnectionClosed as e:
            assert e.rcvd and e.rcvd.code == 3003, e
            return
        push = disconnect_push([msg])
        if push is not None:
            assert push["code"] == 3003, push
            return
        assert msg.get("id") == 1 and msg.get("error", {}).get("code") == 101, msg
