"""Fixtures that run the real herald binary for the end-to-end tests.

Each server gets a free port on 127.0.0.1, its own working directory and log
file, and is ready once GET /health answers 200. When a fixture ends, the
server gets SIGTERM and must exit 0 within its shutdown deadline; a server
that crashed, hung, or (for a sanitizer build) printed an AddressSanitizer or
UBSan report fails the test that owned it.

HERALD_BIN overrides the binary (default build/release/herald), e.g.
HERALD_BIN=build/asan/herald runs the whole suite against the ASan build.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import time

import pytest

E2E_DIR = pathlib.Path(__file__).resolve().parent
REPO = E2E_DIR.parent.parent
DEFAULT_BIN = REPO / "build" / "release" / "herald"
API_KEY = "e2e-secret-key"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")
HOST = "127.0.0.1"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long load-shaped tests (scripts/test skips them on the ASan build)")


def herald_bin() -> pathlib.Path:
    p = pathlib.Path(os.environ.get("HERALD_BIN", DEFAULT_BIN))
    return p if p.is_absolute() else (REPO / p)


def is_sanitizer_build() -> bool:
    return "asan" in str(herald_bin()) or "san" in herald_bin().parent.name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class HeraldServer:
    """One running herald process."""

    def __init__(self, workdir: pathlib.Path, *, workers: int = 2, echo: bool = False,
                 config: str | None = None, args: list[str] | None = None,
                 env: dict[str, str] | None = None, api_key: str | None = API_KEY,
                 anonymous: bool = True, tls_ca: pathlib.Path | None = None,
                 api_port: int | None = None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = free_port()
        # tls_ca: the server speaks TLS (its config names the certificate);
        # clients trust this CA. api_port: the server API and /metrics
        # listen apart, in plaintext ([api] port).
        self.ssl_context = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else None
        self.api_port = api_port or self.port
        self.api_key = api_key
        self.log_path = workdir / "herald.log"
        cmd = [str(herald_bin()), "serve", "--address", HOST, "--port", str(self.port),
               "--workers", str(workers)]
        if api_key is not None:
            cmd += ["--api-key", api_key]
        if echo:
            cmd.append("--echo")
        if config is not None:
            cfg = workdir / "herald.toml"
            cfg.write_text(config)
            cmd += ["--config", str(cfg)]
        cmd += list(args or [])
        self.cmd = cmd
        # The server reads HERALD_SECTION_KEY variables (and refuses unknown
        # ones), so none of ours, such as HERALD_BIN, may leak into it.
        penv = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        if anonymous:
            penv["HERALD_AUTH_ALLOW_ANONYMOUS"] = "true"
        # Sanitizer builds: report, do not abort on leaks we cannot act on here.
        penv.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        penv.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if api_port:
            penv["HERALD_API_PORT"] = str(api_port)
        penv.update(env or {})
        self.env = penv
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.exit_expected = False  # a test that stops the server itself sets this

    # ----- lifecycle --------------------------------------------------------

    def start(self, timeout: float | None = None) -> "HeraldServer":
        binary = herald_bin()
        if not binary.exists():
            pytest.fail(f"herald binary not found at {binary} (build it, or set HERALD_BIN)")
        timeout = timeout or (30.0 if is_sanitizer_build() else 10.0)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"herald exited with {self.proc.returncode} during start-up:\n"
                                     f"{' '.join(self.cmd)}\n{self.log_tail()}")
            try:
                status, body = self.http_get("/health", timeout=1.0)
                if status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"herald did not answer /health within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Sends `sig` and waits for the exit; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = self.proc.returncode
                self._log.close()
                raise AssertionError(f"herald did not exit within {timeout}s of signal {sig}:\n{self.log_tail()}")
        self.returncode = self.proc.returncode
        self._log.close()
        return self.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self) -> None:
        assert self.alive(), f"herald died (exit {self.proc.returncode}):\n{self.log_tail()}"

    # ----- inspection -------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 60) -> str:
        lines = self.log_text().splitlines()
        return "\n".join(lines[-n:])

    def sanitizer_reports(self) -> list[str]:
        text = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in text]

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    # ----- addresses --------------------------------------------------------

    def ws_url(self, path: str = "/connection/websocket") -> str:
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://{self.host}:{self.port}{path}"

    def http_connection(self, timeout: float = 5.0, port: int | None = None) -> http.client.HTTPConnection:
        """HTTP(S) to the client port, or plain HTTP to another port (the API's)."""
        port = port or self.port
        if self.ssl_context and port == self.port:
            return http.client.HTTPSConnection(self.host, port, timeout=timeout, context=self.ssl_context)
        return http.client.HTTPConnection(self.host, port, timeout=timeout)

    def http_get(self, path: str, timeout: float = 5.0, port: int | None = None) -> tuple[int, bytes]:
        conn = self.http_connection(timeout, port)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()


@contextlib.contextmanager
def running_herald(workdir: pathlib.Path, **kw):
    """Starts herald, yields it, then stops it with SIGTERM and asserts a clean
    exit (code 0, no sanitizer report)."""
    server = HeraldServer(workdir, **kw)
    server.start()
    try:
        yield server
    finally:
        check_clean_exit(server)


def check_clean_exit(server: HeraldServer) -> None:
    if server.proc is None:
        return
    was_alive = server.alive()
    code = server.stop()
    reports = server.sanitizer_reports()
    assert not reports, f"sanitizer report in the herald log ({reports}):\n{server.log_tail(200)}"
    assert was_alive or server.exit_expected, f"herald had died before the end of the test (exit {code}):\n{server.log_tail()}"
    assert code == 0, f"herald exited {code} after SIGTERM (want 0):\n{server.log_tail()}"


@pytest.fixture
def herald_factory(tmp_path):
    """start(**kw) -> HeraldServer; every server started is checked at teardown."""
    stack = contextlib.ExitStack()
    counter = [0]

    def start(**kw) -> HeraldServer:
        counter[0] += 1
        return stack.enter_context(running_herald(tmp_path / f"herald{counter[0]}", **kw))

    with stack:
        yield start


@pytest.fixture
def herald(herald_factory) -> HeraldServer:
    """A default server: 2 workers, anonymous connections, the API key."""
    return herald_factory()


@pytest.fixture(scope="session")
def node_ws() -> pathlib.Path:
    """tests/e2e with its Node packages (ws, playwright-core) installed (npm ci
    from the lock file)."""
    import json
    wanted = json.loads((E2E_DIR / "package.json").read_text())["dependencies"]
    if not all((E2E_DIR / "node_modules" / name / "package.json").exists() for name in wanted):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=E2E_DIR,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
    return E2E_DIR
