"""TLS on the client port ([tls] cert_file, key_file): WSS and HTTPS with a
CA and server certificates made here with the openssl CLI; TLS 1.2 is the
minimum; plain HTTP on the TLS port is closed and counted; a stalled
handshake counts against handshake_timeout; SIGHUP reloads the certificate
for new connections while open ones keep working, and a bad file keeps the
old certificate."""
from __future__ import annotations

import json
import pathlib
import signal
import socket
import ssl
import subprocess
import time

import pytest

import rawws
from helpers import NativeClient, api, publish, unique
from test_http import metric_samples


def openssl(*args: str, cwd: pathlib.Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"openssl {' '.join(args)}:\n{r.stderr}"


class Pki:
    """A throwaway CA and server certificates for 127.0.0.1 and localhost
    (EC P-256 keys: quick to make)."""

    def __init__(self, d: pathlib.Path):
        self.dir = d
        d.mkdir(parents=True, exist_ok=True)
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=d)
        openssl("req", "-x509", "-new", "-key", "ca.key", "-days", "2", "-subj", "/CN=Herald Test CA",
                "-out", "ca.pem", cwd=d)
        self.ca = d / "ca.pem"
        self.cert = d / "server.pem"
        self.key = d / "server.key"

    def issue(self, serial: int, cn: str) -> None:
        """Writes server.pem/server.key: a certificate with this serial and CN."""
        d = self.dir
        (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                   "extendedKeyUsage=serverAuth\n")
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "new.key", cwd=d)
        openssl("req", "-new", "-key", "new.key", "-subj", f"/CN={cn}", "-out", "new.csr", cwd=d)
        openssl("x509", "-req", "-in", "new.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", "1", "-extfile", "san.ext", "-out", "new.pem", cwd=d)
        # Renamed into place: a reload never reads a half-written file.
        (d / "new.key").replace(self.key)
        (d / "new.pem").replace(self.cert)

    def config(self, extra: str = "") -> str:
        return f'[tls]\ncert_file = "{self.cert}"\nkey_file = "{self.key}"\n{extra}'


@pytest.fixture
def pki(tmp_path) -> Pki:
    p = Pki(tmp_path / "pki")
    p.issue(1001, "herald-one")
    return p


@pytest.fixture
def tls_server(herald_factory, pki):
    return herald_factory(config=pki.config(), tls_ca=pki.ca)


def peer_certificate(server) -> dict:
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        with server.ssl_context.wrap_socket(raw, server_hostname=server.host) as s:
            return s.getpeercert()


def subject_cn(cert: dict) -> str:
    return dict(x[0] for x in cert["subject"])["commonName"]


def rejections(server, reason: str) -> float:
    return metric_samples(server).get(f'herald_rejections_total{{reason="{reason}"}}', 0.0)


def s_client(server, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "s_client", "-connect", f"{server.host}:{server.port}", *flags],
                          input="", capture_output=True, text=True, timeout=15)


def wait_log(server, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log_text():
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{server.log_tail()}"
        time.sleep(0.05)


def test_wss_subscribe_receives_a_publish_made_over_https(tls_server):
    ch = unique("tls")
    with NativeClient(tls_server) as c:
        c.connect()
        c.subscribe(ch)
        assert publish(tls_server, ch, {"secure": True})["offset"] == 1
        ev = c.wait_event(ch)
        assert ev["payload"] == {"secure": True} and ev["offset"] == 1, ev
    status, body = tls_server.http_get("/health")
    assert (status, body) == (200, b'{"status":"ok"}')


def test_tls12_is_accepted_and_tls11_refused(tls_server, pki):
    ok = s_client(tls_server, "-tls1_2", "-CAfile", str(pki.ca))
    assert ok.returncode == 0, ok.stderr
    assert "Protocol  : TLSv1.2" in ok.stdout, ok.stdout
    assert "Verify return code: 0 (ok)" in ok.stdout, ok.stdout
    before = rejections(tls_server, "tls_handshake")
    # SECLEVEL=0 so the client really offers TLS 1.1 and the server must say no.
    old = s_client(tls_server, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert old.returncode != 0, old.stdout
    assert "Cipher is (NONE)" in old.stdout or "alert protocol version" in old.stderr, old.stdout + old.stderr
    assert rejections(tls_server, "tls_handshake") == before + 1
    tls_server.assert_alive()


def test_plain_http_on_the_tls_port_is_closed_and_counted(tls_server):
    s = socket.create_connection((tls_server.host, tls_server.port), timeout=5)
    started = time.monotonic()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        got = s.recv(1024)
    except ConnectionResetError:
        got = b""
    s.close()
    assert got == b"" or not got.startswith(b"HTTP/1.1 200"), got
    assert time.monotonic() - started < 1.0, "the connection was not closed at once"
    assert rejections(tls_server, "tls_plaintext") == 1
    # Still serving TLS, and WSS, afterwards.
    assert tls_server.http_get("/health")[0] == 200
    with NativeClient(tls_server) as c:
        c.connect()


def test_a_stalled_tls_handshake_counts_against_the_handshake_timeout(herald_factory, pki):
    server = herald_factory(config=pki.config("[limits]\nhandshake_timeout = 1\n"), tls_ca=pki.ca)
    s = socket.create_connection((server.host, server.port), timeout=5)
    started = time.monotonic()
    s.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then nothing
    try:
        assert s.recv(1024) == b""
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - started
    s.close()
    assert 0.9 < elapsed < 3.5, elapsed
    assert rejections(server, "tls_handshake") == 1


def test_sighup_reloads_the_certificate_and_keeps_open_connections(tls_server, pki):
    assert subject_cn(peer_certificate(tls_server)) == "herald-one"
    ch = unique("reload")
    before = NativeClient(tls_server)
    try:
        before.connect()
        before.subscribe(ch)

        pki.issue(2002, "herald-two")
        tls_server.proc.send_signal(signal.SIGHUP)
        wait_log(tls_server, "TLS certificate")
        cert = peer_certificate(tls_server)
        assert cert["serialNumber"] == "07D2" and subject_cn(cert) == "herald-two", cert

        # The connection made before the reload keeps its session.
        publish(tls_server, ch, {"after": "reload"})
        assert before.wait_event(ch)["payload"] == {"after": "reload"}

        # A broken file is refused; the second certificate stays in use.
        pki.cert.write_text("not a certificate\n")
        tls_server.proc.send_signal(signal.SIGHUP)
        wait_log(tls_server, "TLS reload failed")
        assert subject_cn(peer_certificate(tls_server)) == "herald-two"
        with NativeClient(tls_server) as after:
            after.connect()
            after.subscribe(ch)
            publish(tls_server, ch, {"n": 2})
            assert after.wait_event(ch)["payload"] == {"n": 2}
        assert before.wait_event(ch)["payload"] == {"n": 2}
    finally:
        before.close()


def test_a_certificate_that_does_not_load_stops_the_start(tmp_path, pki):
    from conftest import HeraldServer
    pki.key.write_text("garbage\n")
    server = HeraldServer(tmp_path / "bad", config=pki.config(), tls_ca=pki.ca)
    with pytest.raises(AssertionError, match="exited"):
        server.start(timeout=5)
    assert "[tls]" in server.log_text(), server.log_text()


def raw_wss(server, rcvbuf: int | None = None) -> "rawws.RawWS":
    """A raw WebSocket over TLS: reads only when the test says so."""
    sock = rawws.RawWS.open_socket(server.host, server.port, rcvbuf=rcvbuf)
    sock = server.ssl_context.wrap_socket(sock, server_hostname=server.host)
    request, _ = rawws.RawWS.handshake_request(server.host, server.port, "/connection/websocket")
    sock.sendall(request)
    status, headers, leftover = rawws.read_http_head(sock, 5)
    assert status == 101, headers
    return rawws.RawWS(sock, headers, leftover)


def read_native(ws, want: int, timeout: float = 20.0) -> list[dict]:
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < want:
        opcode, payload = ws.recv_message(max(0.01, deadline - time.monotonic()))
        out += [json.loads(line) for line in payload.decode().split("\n") if line]
    return out


def test_a_blocked_tls_writer_resumes_with_every_event_in_order(tls_server):
    """A subscriber that stops reading fills its socket: TLS writes block and
    are retried from the out-queue; once it reads again, every event arrives
    whole and in order."""
    ch = unique("tlsblock")
    ws = raw_wss(tls_server, rcvbuf=4096)
    try:
        ws.send_text('{"id":1,"connect":{}}')
        ws.send_text(json.dumps({"id": 2, "subscribe": {"channel": ch}}))
        assert [m.get("id") for m in read_native(ws, 2)] == [1, 2]
        n, payload = 300, "x" * 3000  # ~1 MB: far more than the socket buffers, under max_queue_bytes
        for start in range(0, n, 50):
            cmds = [{"publish": {"channel": ch, "eventType": "t", "payload": {"i": i, "pad": payload}}}
                    for i in range(start, start + 50)]
            status, reply = api(tls_server, "batch", {"commands": cmds})
            assert status == 200, reply
        time.sleep(0.3)
        events = read_native(ws, n)
        assert [e["push"]["event"]["offset"] for e in events] == list(range(1, n + 1))
        assert all(e["push"]["event"]["payload"]["pad"] == payload for e in events)
    finally:
        ws.close_socket()


def test_a_slow_tls_consumer_is_disconnected_with_3006(herald_factory, pki):
    server = herald_factory(config=pki.config("[limits]\nmax_queue_bytes = 262144\n"), tls_ca=pki.ca)
    ch = unique("tlsslow")
    ws = raw_wss(server, rcvbuf=4096)
    try:
        ws.send_text('{"id":1,"connect":{}}')
        ws.send_text(json.dumps({"id": 2, "subscribe": {"channel": ch}}))
        read_native(ws, 2)
        # More than the kernel's send buffer (up to 4 MiB) and the queue hold.
        for start in range(0, 1600, 20):
            cmds = [{"publish": {"channel": ch, "eventType": "t", "payload": {"i": i, "pad": "y" * 4096}}}
                    for i in range(start, start + 20)]
            assert api(server, "batch", {"commands": cmds})[0] == 200
        result = ws.expect_close(timeout=10)
        assert result.code == 3006, result
        # Frames before the close are whole (the parser would have failed otherwise).
        messages = [json.loads(line) for f in result.frames_before if f.opcode == rawws.OP_TEXT
                    for line in f.payload.decode().split("\n") if line]
        offsets = [m["push"]["event"]["offset"] for m in messages if "event" in m.get("push", {})]
        assert offsets == list(range(1, len(offsets) + 1)) and offsets, len(offsets)
        assert messages[-1]["push"]["disconnect"]["code"] == 3006, messages[-1]
    finally:
        ws.close_socket()
    with NativeClient(server) as c:
        c.connect()
