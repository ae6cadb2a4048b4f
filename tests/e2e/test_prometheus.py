"""/metrics as Prometheus sees it: `promtool check metrics` accepts the
exposition, and a real Prometheus server (Debian's `prometheus`) scrapes
Herald: the target is up, Herald's series come back through the query
API, and every query of the Grafana dashboard (deploy/grafana/herald.json)
is valid PromQL that asks only for series Herald exports."""
from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import free_port
from helpers import publish, unique

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None or shutil.which("prometheus") is None,
                                reason="needs Debian's prometheus package (scripts/deps test installs it)")


def test_promtool_accepts_the_exposition(herald):
    publish(herald, unique("prom"), 1)  # so every series has seen traffic
    status, body = herald.http_get("/metrics")
    assert status == 200
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert check.returncode == 0, (check.stdout + check.stderr).decode()
    text = body.decode()
    for name in ("herald_connections", "herald_events_published_total", "herald_build_info",
                 "herald_api_request_duration_seconds_bucket", "process_resident_memory_bytes"):
        assert name in text, name


def query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as r:
        reply = json.load(r)
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


def test_a_real_prometheus_scrapes_herald(herald, tmp_path):
    publish(herald, unique("prom"), 1)
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: herald\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{herald.port}']\n")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        up = published = []
        while time.monotonic() < deadline:
            try:
                up = query(prom_port, 'up{job="herald"}')
                published = query(prom_port, "herald_events_published_total")
            except OSError:
                pass  # not listening yet
            if up and up[0]["value"][1] == "1" and published:
                break
            time.sleep(0.5)
        assert up and up[0]["value"][1] == "1", (up, (tmp_path / "prometheus.log").read_text()[-2000:])
        assert published and float(published[0]["value"][1]) >= 1, published
        # Every dashboard query is valid PromQL to the real server.
        for expr in dashboard_queries():
            query(prom_port, expr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()



def dashboard_queries() -> list[str]:
    """Every PromQL expression of deploy/grafana/herald.json, with Grafana's
    variables filled in as Grafana would for "all instances"."""
    dashboard = json.loads((pathlib.Path(__file__).parents[2] / "deploy/grafana/herald.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    return [e.replace("$instance", ".*").replace("$__rate_interval", "1m") for e in exprs]


def test_grafana_dashboard_asks_only_for_series_herald_exports(herald):
    exprs = dashboard_queries()
    assert len(exprs) >= 8
    _, body = herald.http_get("/metrics")
    exported = {line.split("{")[0].split(" ")[0] for line in body.decode().splitlines()
                if line and not line.startswith("#")}
    # Metric names are the identifiers right before a label matcher.
    asked = {name for e in exprs for name in re.findall(r"([a-z_]+)\{", e)}
    assert "herald_events_delivered_total" in asked and len(asked) >= 10, asked
    assert asked <= exported, f"not exported: {sorted(asked - exported)}"
