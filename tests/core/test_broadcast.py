"""The broadcast health machine, pure: OBS's answers in, state and alarms out (no sleeps)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from councild.broadcast import MB, Alarm, BroadcastHealth, Thresholds, parse_timecode


def stream(active: bool = True, reconnecting: bool = False, bytes_: int = 0,
           skipped: int = 0, total: int = 0, congestion: float = 0.0,
           ms: int = 0) -> dict[str, Any]:
    return {"outputActive": active, "outputReconnecting": reconnecting,
            "outputTimecode": "00:00:00.000", "outputDuration": ms,
            "outputCongestion": congestion, "outputBytes": bytes_,
            "outputSkippedFrames": skipped, "outputTotalFrames": total}


def record(active: bool = True, paused: bool = False, bytes_: int = 0) -> dict[str, Any]:
    return {"outputActive": active, "outputPaused": paused, "outputTimecode": "00:01:02.500",
            "outputDuration": 62500, "outputBytes": bytes_}


def stats(disk_mb: float = 100_000.0) -> dict[str, Any]:
    return {"cpuUsage": 7.5, "renderSkippedFrames": 3, "renderTotalFrames": 900,
            "availableDiskSpace": disk_mb}


IDLE_STREAM = stream(active=False)
IDLE_RECORD = record(active=False)


def alarms(h: BroadcastHealth) -> set[Alarm]:
    return set(h.alarms)


def live_for(h: BroadcastHealth, seconds: int, *, start: float = 0.0, rate: int = 400_000,
             fps: int = 30, drop_every: int = 0) -> float:
    """Poll a live stream once a second; bytes grow by `rate` per second."""
    skipped = total = 0
    t = start
    for i in range(seconds + 1):
        t = start + i
        total = fps * i
        skipped = (total // drop_every) if drop_every else 0
        h.poll(t, stream(bytes_=rate * i, skipped=skipped, total=total, ms=1000 * i),
               IDLE_RECORD, stats())
    return t


def test_timecode() -> None:
    assert parse_timecode("01:23:45.500") == 5025.5
    assert parse_timecode("garbage") is None
    assert parse_timecode(12) is None


def test_live_bitrate_from_byte_deltas() -> None:
    h = BroadcastHealth()
    h.commanded("stream_start")
    assert h.stream_state == "starting"
    h.poll(0.0, IDLE_STREAM, IDLE_RECORD, stats())
    assert h.stream_state == "starting"  # asked to start, OBS not there yet: no alarm
    live_for(h, 6, start=1.0)
    assert h.stream_state == "live"
    assert h.bitrate == 400_000 * 8
    assert h.state_dict()["stream"]["bitrate"] == 3_200_000
    assert h.cpu == 7.5 and h.render_skipped == 3
    assert not h.alarms


def test_reconnecting_raises_and_live_clears() -> None:
    h = BroadcastHealth()
    t = live_for(h, 3)
    changes = h.output_event(t + 0.1, "stream", "reconnecting", True)
    assert [(c.alarm, c.raised) for c in changes] == [(Alarm.STREAM_RECONNECTING, True)]
    assert h.stream_state == "reconnecting"
    # Every further attempt is counted and shown; the poll repeating it adds nothing.
    again = h.output_event(t + 2.1, "stream", "reconnecting", True)
    assert again[0].detail == {"attempts": 2}
    assert h.poll(t + 2.5, stream(reconnecting=True, bytes_=10), IDLE_RECORD, stats()) == []
    changes = h.output_event(t + 3, "stream", "reconnected", True)
    assert [(c.alarm, c.raised) for c in changes] == [(Alarm.STREAM_RECONNECTING, False)]
    assert h.stream_state == "live" and h.reconnects == 0


def test_stop_without_command_is_an_alarm_with_command_not() -> None:
    h = BroadcastHealth()
    t = live_for(h, 2)
    changes = h.poll(t + 1, IDLE_STREAM, IDLE_RECORD, stats())
    assert [(c.alarm, c.raised) for c in changes] == [(Alarm.STREAM_STOPPED, True)]
    assert h.stream_state == "stopped"
    # Starting again clears it.
    h.commanded("stream_start")
    assert Alarm.STREAM_STOPPED not in h.alarms
    t = live_for(h, 2, start=t + 2)
    h.commanded("stream_stop")
    assert h.output_event(t + 1, "stream", "stopped", False) == []
    assert h.poll(t + 2, IDLE_STREAM, IDLE_RECORD, stats()) == []
    assert not h.alarms and h.stream_state == "stopped"


def test_refused_stop_leaves_a_later_stop_an_alarm() -> None:
    h = BroadcastHealth()
    t = live_for(h, 2)
    h.commanded("stream_stop")
    h.command_failed("stream_stop")
    changes = h.poll(t + 1, IDLE_STREAM, IDLE_RECORD, stats())
    assert Alarm.STREAM_STOPPED in {c.alarm for c in changes}


def test_dropped_frames_over_the_window_only() -> None:
    h = BroadcastHealth(Thresholds(dropped_percent=1.0, dropped_window=10.0))
    # 1 frame in 30 dropped = 3.3 %, but for less than the window: no verdict yet.
    t = live_for(h, 8, drop_every=30)
    assert Alarm.DROPPED_FRAMES not in h.alarms
    assert h.dropped_percent is not None and h.dropped_percent > 3
    t = live_for(h, 12, drop_every=30)
    assert Alarm.DROPPED_FRAMES in h.alarms
    # A clean window afterwards clears it: counters keep their totals.
    skipped, total = h.skipped or 0, h.total or 0
    for i in range(1, 12):
        h.poll(t + i, stream(bytes_=10 * i, skipped=skipped, total=total + 30 * i),
               IDLE_RECORD, stats())
    assert Alarm.DROPPED_FRAMES not in h.alarms
    assert h.dropped_percent == 0.0


def test_a_short_burst_long_ago_does_not_count() -> None:
    h = BroadcastHealth()
    # 60 s with 300 frames dropped in the first second, none after: over the whole stream
    # that is 16 %, over the last 10 s it is 0.
    h.poll(0, stream(skipped=0, total=0), IDLE_RECORD, stats())
    for i in range(1, 61):
        h.poll(i, stream(bytes_=i, skipped=300, total=1800 + 30 * i), IDLE_RECORD, stats())
    assert h.dropped_percent == 0.0
    assert Alarm.DROPPED_FRAMES not in h.alarms


def test_disk_minutes_left_and_alarm() -> None:
    h = BroadcastHealth(Thresholds(disk_low_minutes=30))
    rate = 1_000_000  # bytes/s: 60 MB a minute
    disk_mb = 2000.0  # ~35 min at that rate
    for i in range(6):
        h.poll(i, IDLE_STREAM, record(bytes_=rate * i), stats(disk_mb))
    left = h.minutes_left
    assert left is not None and abs(left - 2000 * MB / rate / 60) < 0.01
    assert Alarm.DISK_LOW not in h.alarms
    h.poll(6, IDLE_STREAM, record(bytes_=rate * 6), stats(1000.0))
    assert Alarm.DISK_LOW in h.alarms
    assert h.state_dict()["alarms"][0]["minutes"] < 30
    h.commanded("record_stop")
    h.poll(7, IDLE_STREAM, IDLE_RECORD, stats(1000.0))
    assert not h.alarms  # not recording: nothing runs out


def test_record_pause_path_and_unexpected_stop() -> None:
    h = BroadcastHealth()
    h.output_event(0, "record", "started", True, "/rec/a.mkv")
    assert h.record_state == "recording" and h.record_path == "/rec/a.mkv"
    h.output_event(1, "record", "paused", True)
    assert h.record_state == "paused"
    h.output_event(2, "record", "resumed", True)
    changes = h.output_event(3, "record", "stopped", False)
    assert [(c.alarm, c.raised) for c in changes] == [(Alarm.RECORD_STOPPED, True)]


def test_obs_gone_while_live_and_back() -> None:
    h = BroadcastHealth()
    t = live_for(h, 2)
    changes = h.obs_lost(t + 0.5)
    assert {c.alarm for c in changes} == {Alarm.OBS_GONE}
    assert h.stream_state == "unknown" and h.bitrate is None
    changes = h.poll(t + 3, IDLE_STREAM, IDLE_RECORD, stats())
    # OBS is back, and the stream it ran is gone: that is said too.
    assert {(c.alarm, c.raised) for c in changes} == {
        (Alarm.OBS_GONE, False), (Alarm.STREAM_STOPPED, True)}


def test_obs_lost_when_idle_is_no_broadcast_alarm() -> None:
    h = BroadcastHealth()
    h.poll(0, IDLE_STREAM, IDLE_RECORD, stats())
    assert h.obs_lost(1) == []


@given(st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["outputActive", "outputReconnecting", "outputBytes",
                                     "outputSkippedFrames", "outputTotalFrames",
                                     "outputCongestion", "outputTimecode", "outputDuration",
                                     "outputPaused", "availableDiskSpace", "cpuUsage"]),
                    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                              st.floats(allow_nan=True), st.text(max_size=12))),
    st.none()), min_size=3, max_size=30))
def test_arbitrary_answers_never_raise(answers: list[dict[str, Any] | None]) -> None:
    h = BroadcastHealth()
    for i in range(0, len(answers) - 2, 3):
        h.poll(float(i), answers[i], answers[i + 1], answers[i + 2])
        h.state_dict()


# A random broadcast: the technician's commands, OBS's events and polls in any order.
STEPS = st.lists(st.one_of(
    st.tuples(st.just("cmd"), st.sampled_from(["stream_start", "stream_stop", "record_start",
                                               "record_stop"])),
    st.tuples(st.just("event"), st.sampled_from(["started", "stopped", "reconnecting",
                                                 "reconnected"])),
    st.tuples(st.just("poll"), st.booleans()),
    st.tuples(st.just("lost"), st.none()),
), max_size=40)


@given(STEPS)
def test_a_commanded_stop_is_never_an_alarm(steps: list[tuple[str, Any]]) -> None:
    h = BroadcastHealth()
    t = 0.0
    for kind, arg in steps:
        t += 1.0
        if kind == "cmd":
            h.commanded(arg)
            continue
        if kind == "lost":
            h.obs_lost(t)
            continue
        stop_expected = h._stream_stop_expected
        was = h.stream_state
        if kind == "event":
            changes = h.output_event(t, "stream", arg, arg != "stopped")
        else:
            changes = h.poll(t, stream(active=arg, bytes_=int(t)), IDLE_RECORD, stats())
        raised = {c.alarm for c in changes if c.raised}
        if Alarm.STREAM_STOPPED in raised:
            # Only a stream that was running, stopping without a stop command.
            assert not stop_expected
            assert was in ("live", "reconnecting", "unknown", "stopping")
        if h.stream_state == "live":
            assert Alarm.STREAM_RECONNECTING not in h.alarms
            assert Alarm.STREAM_STOPPED not in h.alarms
        assert set(h.alarms) <= set(Alarm)
