"""The Prometheus endpoint, scraped by Debian's real `prometheus` server; the example rules
checked by `promtool`.

A daemon with an X32 simulator exposes /metrics on loopback; a private Prometheus scrapes it
every second; a PromQL query through Prometheus' HTTP API sees the desk's link up, and down
once the simulator is gone. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from councild.api import ApiClient
from councild.config import parse
from councild.daemon import Daemon
from devices.sim.x32 import X32Simulator
from scenes.headless import free_tcp_port
from tests.helpers import require_binary, until
from tests.tui.conftest import desk_toml

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus-alerts.yml"
METRICS = '\n[metrics]\nenabled = true\nbind = "127.0.0.1:0"\n'


async def scrape(port: int) -> dict[str, list[Any]]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_promtool_accepts_the_example_rules() -> None:
    promtool = require_binary("promtool", "prometheus")
    out = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 7 rules found" in out.stdout


async def test_metrics_endpoint_without_a_server(short_tmp: Path) -> None:
    async with X32Simulator() as sim:
        d = Daemon(parse(desk_toml(sim.port) + METRICS), store_path=short_tmp / "s.db",
                   socket_path=short_tmp / "api.sock")
        await d.start()
        try:
            await until(lambda: d.device_views["desk"].link.value == "connected", 5)
            client = await ApiClient.connect(Path(d.socket_path))
            try:
                await client.request("request", seat="3")
                await client.request("state")
                await client.request("no_such_op")
            finally:
                await client.close()
            families = await scrape(d.metrics.port)
        finally:
            await d.stop()
    up = {s.labels["device"]: s.value for s in families["councild_device_up"]}
    assert up == {"desk": 1.0}
    queue = {s.labels["queue"]: s.value for s in families["councild_floor_queue_length"]}
    assert queue == {"main": 1.0, "reply": 0.0}
    counts = {s.labels["op"]: s.value for s in families["councild_api_request_seconds"]
              if s.name.endswith("_count")}
    assert counts["request"] == 1 and counts["state"] == 1
    assert counts["other"] == 1  # a client's made-up op never becomes a label of its own
    assert "councild_stream_state" not in families  # no OBS, no broadcast series


class Prometheus:
    def __init__(self, binary: str, folder: Path, target: int) -> None:
        self.port = free_tcp_port()
        config = folder / "prometheus.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "councild", "static_configs": [
                {"targets": [f"127.0.0.1:{target}"], "labels": {"chamber": "test"}}]}],
        }))
        self.log = (folder / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=folder)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()

    async def get(self, path: str, **params: str) -> Any:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{self.port}{path}", params=params) as resp:
            return await resp.json() if resp.status == 200 else None

    async def query(self, promql: str) -> list[dict[str, Any]]:
        data = await self.get("/api/v1/query", query=promql)
        return data["data"]["result"] if data else []


@pytest.fixture
def prometheus_binary() -> str:
    return require_binary("prometheus", "prometheus")


async def test_prometheus_scrapes_and_sees_the_desk_go(short_tmp: Path,
                                                        prometheus_binary: str) -> None:
    sim = X32Simulator()
    await sim.start()
    d = Daemon(parse(desk_toml(sim.port) + METRICS), store_path=short_tmp / "s.db",
               socket_path=short_tmp / "api.sock")
    prom: Prometheus | None = None
    try:
        await d.start()
        await until(lambda: d.device_views["desk"].link.value == "connected", 5)
        prom = Prometheus(prometheus_binary, short_tmp, d.metrics.port)

        async def desk_up() -> float | None:
            try:
                result = await prom.query('councild_device_up{device="desk",chamber="test"}')
            except aiohttp.ClientError:
                return None  # Prometheus still starting
            return float(result[0]["value"][1]) if result else None

        async def is_(value: float) -> bool:
            return await desk_up() == value

        await until(lambda: is_(1.0), 30, interval=0.25)
        rules = await prom.get("/api/v1/rules")
        names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
        assert "CouncildDeviceLost" in names and "CouncildStreamDown" in names

        await sim.stop()  # the desk goes away: councild sees it lost within 3 s
        gone = time.monotonic()
        await until(lambda: d.device_views["desk"].link.value != "connected", 5)
        await until(lambda: is_(0.0), 10, interval=0.25)
        assert time.monotonic() - gone < 10
        # The example rule sees it too: pending now, firing after its 30 s.
        async def pending() -> bool:
            alerts = await prom.get("/api/v1/alerts")
            return any(a["labels"]["alertname"] == "CouncildDeviceLost"
                       and a["labels"]["device"] == "desk"
                       for a in (alerts or {}).get("data", {}).get("alerts", []))

        await until(pending, 10, interval=0.25)
    finally:
        if prom is not None:
            prom.stop()
        await d.stop()
        await sim.stop()
