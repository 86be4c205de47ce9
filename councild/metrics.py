"""The Prometheus exposition endpoint: GET /metrics on `[metrics] bind` (loopback by default).

This is how a municipal IT provider watches forty chambers from one place: with the
monitoring they already run. Nothing here is computed on the hot path: a scrape reads the
daemon's state as the API would show it and turns it into metric families (a custom
collector); only the API latency histogram is observed as requests are answered, by one
`observe()` call in councild/api.py. The server runs on the daemon's loop (aiohttp), so a
scrape reads the state without any thread touching it.

Labels are bounded: device names come from the configuration, alarm names from
councild/broadcast.py, API ops from a fixed list (anything else a client sends is "other").
packaging/prometheus/councild-alerts.yml has example alert rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from councild.broadcast import Alarm
from councild.model import Link

log = logging.getLogger("councild.metrics")

# The API answers in well under a millisecond on loopback; a broadcast op waits for OBS.
API_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
               0.5, 1.0, 2.5, 5.0)
STREAM_STATES = ("unknown", "stopped", "starting", "live", "reconnecting", "stopping")
RECORD_STATES = ("unknown", "stopped", "starting", "recording", "paused", "stopping")

State = Callable[[], Mapping[str, Any]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


class StateCollector(Collector):
    """Metric families from one API state dict, read at scrape time."""

    def __init__(self, state: State) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        state = self._state()
        yield from self._devices(state.get("devices") or {})
        yield from self._floor(state)
        broadcast = state.get("broadcast")
        if isinstance(broadcast, dict):
            yield from self._broadcast(broadcast)

    def _devices(self, devices: Mapping[str, Any]) -> Iterator[Metric]:
        up = GaugeMetricFamily("councild_device_up", "1 while the device's link is connected",
                               labels=["device", "driver"])
        link = GaugeMetricFamily("councild_device_link",
                                 "The device's link state (1 for the current state)",
                                 labels=["device", "state"])
        since = GaugeMetricFamily("councild_device_link_since_timestamp_seconds",
                                  "When the device's link entered its current state",
                                  labels=["device"])
        errors = CounterMetricFamily("councild_device_malformed_input",
                                     "Malformed or unexpected input received from the device",
                                     labels=["device"])
        for name, view in sorted(devices.items()):
            if not isinstance(view, dict):
                continue
            current = str(view.get("link"))
            up.add_metric([name, str(view.get("driver", ""))],
                          1.0 if current == Link.CONNECTED.value else 0.0)
            for value in Link:
                link.add_metric([name, value.value], 1.0 if current == value.value else 0.0)
            if (t := _number(view.get("since"))) is not None:
                since.add_metric([name], t)
            errors.add_metric([name], _number(view.get("errors")) or 0.0)
        yield from (up, link, since, errors)

    def _floor(self, state: Mapping[str, Any]) -> Iterator[Metric]:
        speakers = GaugeMetricFamily("councild_floor_speakers", "Open microphones (speakers)")
        speakers.add_metric([], float(len(state.get("speakers") or [])))
        queue = GaugeMetricFamily("councild_floor_queue_length", "Seats waiting for the floor",
                                  labels=["queue"])
        queue.add_metric(["main"], float(len(state.get("queue") or [])))
        queue.add_metric(["reply"], float(len(state.get("reply_queue") or [])))
        priority = GaugeMetricFamily("councild_floor_chair_priority", "1 while chair priority")
        priority.add_metric([], 1.0 if state.get("priority") else 0.0)
        yield from (speakers, queue, priority)

    def _broadcast(self, b: Mapping[str, Any]) -> Iterator[Metric]:
        stream = b.get("stream") or {}
        record = b.get("record") or {}
        obs = b.get("obs") or {}
        connected = GaugeMetricFamily("councild_obs_answering",
                                      "1 while OBS answers the broadcast health poll")
        connected.add_metric([], 1.0 if b.get("connected") else 0.0)
        yield connected
        yield _state_set("councild_stream_state", "The stream's state (1 for the current)",
                         STREAM_STATES, stream.get("state"))
        yield _state_set("councild_record_state", "The recording's state (1 for the current)",
                         RECORD_STATES, record.get("state"))
        gauges = (
            ("councild_stream_bitrate_bits_per_second", "Stream bitrate over the last seconds",
             stream.get("bitrate")),
            ("councild_stream_dropped_frames_ratio",
             "Share of the stream's frames skipped over the dropped-frame window",
             _ratio(stream.get("dropped_percent"))),
            ("councild_stream_congestion_ratio", "OBS's output congestion (0-1)",
             stream.get("congestion")),
            ("councild_stream_reconnect_attempts", "Reconnect attempts in the current episode",
             stream.get("reconnects")),
            ("councild_stream_duration_seconds", "How long the stream has been running",
             stream.get("timecode")),
            ("councild_record_duration_seconds", "How long the recording has been running",
             record.get("timecode")),
            ("councild_record_bytes", "Size of the recording so far", record.get("bytes")),
            ("councild_record_minutes_left",
             "Minutes of recording the disk still holds at the current rate",
             record.get("minutes_left")),
            ("councild_obs_disk_free_bytes", "Free space on the disk OBS records to",
             obs.get("disk_free")),
            ("councild_obs_cpu_percent", "OBS's CPU use", obs.get("cpu")),
        )
        for name, help_text, value in gauges:
            if (number := _number(value)) is not None:
                family = GaugeMetricFamily(name, help_text)
                family.add_metric([], number)
                yield family
        counters = (
            ("councild_stream_skipped_frames", "Frames the stream output skipped (OBS's count)",
             stream.get("skipped_frames")),
            ("councild_stream_frames", "Frames the stream output sent (OBS's count)",
             stream.get("total_frames")),
            ("councild_obs_render_skipped_frames", "Frames OBS skipped rendering",
             obs.get("render_skipped_frames")),
        )
        for name, help_text, value in counters:
            if (number := _number(value)) is not None:
                counter = CounterMetricFamily(name, help_text)
                counter.add_metric([], number)
                yield counter
        raised = {str(a.get("alarm")) for a in b.get("alarms") or [] if isinstance(a, dict)}
        alarms = GaugeMetricFamily("councild_broadcast_alarm",
                                   "1 while the broadcast alarm is raised", labels=["alarm"])
        for alarm in Alarm:
            alarms.add_metric([alarm.value], 1.0 if alarm.value in raised else 0.0)
        yield alarms


def _ratio(percent: Any) -> float | None:
    number = _number(percent)
    return number / 100.0 if number is not None else None


def _state_set(name: str, help_text: str, states: tuple[str, ...], current: Any) -> Metric:
    family = GaugeMetricFamily(name, help_text, labels=["state"])
    for value in states:
        family.add_metric([value], 1.0 if value == current else 0.0)
    return family


class MetricsServer:
    """GET /metrics (and nothing else) for Prometheus, on the daemon's loop."""

    def __init__(self, state: State, host: str, port: int, ops: frozenset[str]) -> None:
        self.host, self.port = host, port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StateCollector(state))
        self._ops = ops
        self.api_latency = Histogram(
            "councild_api_request_seconds", "Control-API requests, from parsed to answered",
            ["op"], buckets=API_BUCKETS, registry=self.registry)
        self._runner: web.AppRunner | None = None

    def observe_api(self, op: str, seconds: float) -> None:
        self.api_latency.labels(op if op in self._ops else "other").observe(seconds)

    async def start(self) -> None:
        app = web.Application(client_max_size=1024)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=16)
        await site.start()
        if self.port == 0 and self._runner.addresses:  # tests ask for a free port
            self.port = int(self._runner.addresses[0][1])
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
