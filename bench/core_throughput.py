"""Throughput of the floor machine: events per second through floor.step on one core.

Four realistic mixes (24 seats, a chair, the example config's rules): a request-mode debate,
open mode with button presses, voice mode with voice-activity edges, and device
confirmations from a desk. Events are generated first so only floor.step is measured.
Refused events (FloorError) are counted too: refusing is work the floor must do as well.

    python bench/core_throughput.py [--events N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from councild import floor
from councild.assembly import roster_from_config, rules_from_roster
from councild.config import default_path, load
from councild.errors import FloorError
from councild.model import (
    Cancel,
    Event,
    Grant,
    MicClosed,
    MicOpened,
    Mode,
    Next,
    Press,
    Request,
    Revoke,
    Tick,
    Voice,
)

GOAL = 100_000


def mix_request(rng: random.Random, seats: list[str]) -> Event:
    r = rng.random()
    if r < 0.35:
        return Request(seat=rng.choice(seats))
    if r < 0.45:
        return Cancel(seat=rng.choice(seats))
    if r < 0.60:
        return Next()
    if r < 0.70:
        return Grant(seat=rng.choice(seats))
    if r < 0.80:
        return Revoke(seat=rng.choice(seats))
    return Tick()


def mix_open(rng: random.Random, seats: list[str]) -> Event:
    return Press(seat=rng.choice(seats)) if rng.random() < 0.8 else Tick()


def mix_voice(rng: random.Random, seats: list[str]) -> Event:
    return Voice(seat=rng.choice(seats), active=rng.random() < 0.5)


def mix_device(rng: random.Random, seats: list[str]) -> Event:
    seat = rng.choice(seats)
    return MicOpened(seat=seat) if rng.random() < 0.5 else MicClosed(seat=seat)


MIXES: dict[str, tuple[Mode, Callable[[random.Random, list[str]], Event]]] = {
    "request debate": (Mode.REQUEST, mix_request),
    "open presses": (Mode.OPEN, mix_open),
    "voice activity": (Mode.VOICE, mix_voice),
    "desk confirmations": (Mode.REQUEST, mix_device),
}


def run_mix(name: str, n: int) -> tuple[float, list[float]]:
    config = load(default_path())
    rules = rules_from_roster(roster_from_config(config))
    seats = list(rules.seats)
    mode, make = MIXES[name]
    rng = random.Random(42)
    events = [make(rng, seats) for _ in range(n)]
    times = [1000.0 + i * 0.05 for i in range(n)]  # 20 events/s of session time
    state = floor.initial_state(mode, 2)
    step = floor.step
    samples: list[float] = []
    clock = time.perf_counter_ns
    start = time.perf_counter()
    for i, (event, now) in enumerate(zip(events, times, strict=True)):
        if i % 64 == 0:  # sample per-event latency without timing every call
            t0 = clock()
            try:  # noqa: SIM105 - try/except is cheaper than suppress() in the measured loop
                state, _ = step(rules, state, event, now)
            except FloorError:
                pass
            samples.append((clock() - t0) / 1000)
            continue
        try:  # noqa: SIM105 - as above
            state, _ = step(rules, state, event, now)
        except FloorError:
            pass
    elapsed = time.perf_counter() - start
    return n / elapsed, samples


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    total_events = 0
    total_time = 0.0
    print(f"{'mix':<20} {'events/s':>10} {'p50 µs':>8} {'p99 µs':>8} {'vs goal':>8}")
    for name in MIXES:
        rate, samples = run_mix(name, args.events)
        total_events += args.events
        total_time += args.events / rate
        print(f"{name:<20} {rate:>10,.0f} {pct(samples, 50):>8.2f} {pct(samples, 99):>8.2f} "
              f"{rate / GOAL:>7.2f}x")
    overall = total_events / total_time
    print(f"{'all mixes':<20} {overall:>10,.0f} {'':>8} {'':>8} {overall / GOAL:>7.2f}x")
    print(f"RESULT events_per_s={overall:.0f}")


if __name__ == "__main__":
    main()
