"""Captured audio for the hybrid-audio tests: raw PCM over UDP, analysed by FFT.

Each listener (the chamber return, a simulated councillor) has its ffmpeg output write mono
16 kHz s16le to a UDP port of ours; `PcmCapture` keeps the samples with the loop time they
arrived, so a test can ask "which tones are in the last 0.5 s" and "when did 600 Hz appear".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

RATE = 16000
# A tone counts as present this far above the noise floor of the spectrum (Opus at low
# bitrate leaves its own noise; a present tone is 40-60 dB above it).
WINDOW_S = 0.25


def output_args(port: int) -> list[str]:
    """ffmpeg output arguments: what a listener under test decodes to."""
    return ["-ac", "1", "-ar", str(RATE), "-f", "s16le", "-flush_packets", "1",
            f"udp://127.0.0.1:{port}?pkt_size=640"]


def tone_db(samples: np.ndarray, frequency: float, rate: int = RATE) -> float:
    """Level (dB re full scale sine) of `frequency` in `samples`, by a Hann-windowed FFT."""
    if len(samples) < 256:
        return -200.0
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples * window)) / (window.sum() / 2)
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = (freqs > frequency - 15) & (freqs < frequency + 15)
    peak = float(spectrum[band].max()) if band.any() else 0.0
    return 20 * np.log10(peak / 32768.0 + 1e-12)


def tone_prominence(samples: np.ndarray, frequency: float, rate: int = RATE) -> float:
    """How far `frequency` stands above the spectrum around it (±200 Hz, its own ±40 Hz
    left out), in dB: a tone stands 30-60 dB out, a click or a decoder restart (broadband)
    about 0. Tells "B is heard" from a transient at every frequency."""
    if len(samples) < 256:
        return 0.0
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples * window)) + 1e-9
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = (freqs > frequency - 15) & (freqs < frequency + 15)
    around = (np.abs(freqs - frequency) < 200) & (np.abs(freqs - frequency) > 40)
    if not band.any() or not around.any():
        return 0.0
    return float(20 * np.log10(spectrum[band].max() / np.median(spectrum[around])))


@dataclass
class PcmCapture(asyncio.DatagramProtocol):
    chunks: list[tuple[float, np.ndarray]] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    _odd: bytes = b""

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        data = self._odd + data
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        samples = np.frombuffer(data[:cut], dtype="<i2").astype(np.float64)
        self.chunks.append((asyncio.get_running_loop().time(), samples))
        if len(self.chunks) > 4000:  # ~80 s of audio: bounded
            del self.chunks[:1000]

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def recent(self, seconds: float = WINDOW_S, *, before: float | None = None) -> np.ndarray:
        end = before if before is not None else float("inf")
        picked = [s for t, s in self.chunks if t <= end]
        total = np.concatenate(picked) if picked else np.zeros(0)
        return total[-int(seconds * RATE):]

    def levels(self, *frequencies: float, seconds: float = WINDOW_S) -> dict[float, float]:
        samples = self.recent(seconds)
        return {f: tone_db(samples, f) for f in frequencies}

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_capture() -> PcmCapture:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        PcmCapture, local_addr=("127.0.0.1", 0))
    protocol.transport = transport
    return protocol
