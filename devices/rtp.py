"""Sans-IO RTP packets for simulated remote councillors: Opus audio with an audio level.

Janus decides who is talking from the RFC 6464 client-to-mixer audio level carried in an
RFC 8285 one-byte header extension, never from the audio itself, so a valid Opus TOC byte and a
tiny frame are enough payload. Nothing here touches sockets or the clock: the sender decides
when a packet goes out, this module only decides what its bytes are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from councild.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "AUDIO_LEVEL_EXT_ID",
    "LEVEL_SILENT",
    "LEVEL_TALKING",
    "ONE_BYTE_PROFILE",
    "OPUS_CLOCK",
    "OPUS_PT",
    "OPUS_SAMPLES_20MS",
    "OPUS_SILENCE",
    "RtpError",
    "RtpLocalError",
    "RtpPacket",
    "RtpStream",
    "audio_level_element",
    "build_packet",
    "parse_packet",
]

RTP_VERSION = 2
HEADER = struct.Struct("!BBHII")
ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 §4.2: marks one-byte extension elements
OPUS_PT = 111  # the dynamic payload type browsers and Janus use for Opus
OPUS_CLOCK = 48_000  # Opus RTP clock is always 48 kHz (RFC 7587)
OPUS_SAMPLES_20MS = 960
# TOC 0xF8: CELT-only, fullband, 20 ms, mono, one frame; 0xFF 0xFE is the frame WebRTC itself
# sends as comfort silence. Decoders accept it; Janus only forwards it.
OPUS_SILENCE = b"\xf8\xff\xfe"
AUDIO_LEVEL_EXT_ID = 1  # the extmap id announced to Janus as audiolevel_ext_id
LEVEL_TALKING = 20  # -dBov: a voice close to the microphone
LEVEL_SILENT = 127  # -dBov: digital silence (the lowest level RFC 6464 can express)
MAX_PACKET = 1500  # one Ethernet MTU; larger RTP would be fragmented on the way to Janus


class RtpError(RemoteProtocolError):
    """Received bytes are not an RTP packet we understand."""


class RtpLocalError(LocalProtocolError):
    """Asked to build a packet RTP cannot carry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    # RFC 8285 one-byte elements: id (1..14) -> data (1..16 bytes)
    extensions: dict[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise RtpLocalError(f"payload type {self.payload_type} not in 0..127")
        if not 0 <= self.sequence <= 0xFFFF:
            raise RtpLocalError(f"sequence {self.sequence} not in 0..65535")
        for name in ("timestamp", "ssrc"):
            if not 0 <= getattr(self, name) <= 0xFFFFFFFF:
                raise RtpLocalError(f"{name} not a 32-bit unsigned value")
        for ext_id, data in self.extensions.items():
            if not 1 <= ext_id <= 14:
                raise RtpLocalError(f"one-byte extension id {ext_id} not in 1..14")
            if not 1 <= len(data) <= 16:
                raise RtpLocalError(f"extension {ext_id}: {len(data)} bytes, not 1..16")

    @property
    def audio_level(self) -> tuple[bool, int] | None:
        """(voice, level -dBov) from the extension AUDIO_LEVEL_EXT_ID, if present."""
        data = self.extensions.get(AUDIO_LEVEL_EXT_ID)
        if not data:
            return None
        return bool(data[0] & 0x80), data[0] & 0x7F


def audio_level_element(level: int, voice: bool) -> bytes:
    """RFC 6464 byte: V flag, then the level in -dBov (0 loudest .. 127 silence)."""
    if not 0 <= level <= 127:
        raise RtpLocalError(f"audio level {level} not in 0..127 -dBov")
    return bytes([(0x80 if voice else 0) | level])


def build_packet(packet: RtpPacket) -> bytes:
    has_ext = bool(packet.extensions)
    first = (RTP_VERSION << 6) | (0x10 if has_ext else 0)
    second = (0x80 if packet.marker else 0) | packet.payload_type
    out = bytearray(HEADER.pack(first, second, packet.sequence, packet.timestamp, packet.ssrc))
    if has_ext:
        body = bytearray()
        for ext_id, data in sorted(packet.extensions.items()):
            body.append((ext_id << 4) | (len(data) - 1))
            body += data
        body += b"\0" * (-len(body) % 4)  # the extension length counts 32-bit words
        out += struct.pack("!HH", ONE_BYTE_PROFILE, len(body) // 4) + body
    out += packet.payload
    if len(out) > MAX_PACKET:
        raise RtpLocalError(f"packet of {len(out)} bytes exceeds {MAX_PACKET}")
    return bytes(out)


def _one_byte_elements(body: bytes) -> dict[int, bytes]:
    elements: dict[int, bytes] = {}
    i = 0
    while i < len(body):
        head = body[i]
        if head == 0:  # padding between or after elements
            i += 1
            continue
        ext_id, length = head >> 4, (head & 0x0F) + 1
        if ext_id == 15:  # RFC 8285: id 15 ends parsing
            break
        if i + 1 + length > len(body):
            raise RtpError(f"extension element {ext_id} runs past the header")
        elements[ext_id] = bytes(body[i + 1 : i + 1 + length])
        i += 1 + length
    return elements


def parse_packet(data: bytes) -> RtpPacket:
    """Decode one datagram; RtpError for anything that is not RTP version 2."""
    if len(data) < HEADER.size:
        raise RtpError(f"{len(data)} bytes is shorter than an RTP header")
    first, second, seq, ts, ssrc = HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}")
    pos = HEADER.size + 4 * (first & 0x0F)  # skip CSRCs
    extensions: dict[int, bytes] = {}
    if first & 0x10:
        if len(data) < pos + 4:
            raise RtpError("truncated extension header")
        profile, words = struct.unpack_from("!HH", data, pos)
        body = data[pos + 4 : pos + 4 + 4 * words]
        if len(body) != 4 * words:
            raise RtpError("truncated extension body")
        if profile == ONE_BYTE_PROFILE:
            extensions = _one_byte_elements(body)
        pos += 4 + 4 * words
    end = len(data)
    if first & 0x20:  # padding: the last byte counts the padding bytes
        end -= data[-1]
    if pos > end or (first & 0x20 and data[-1] == 0):
        raise RtpError("payload shorter than header and padding")
    return RtpPacket(payload_type=second & 0x7F, sequence=seq, timestamp=ts, ssrc=ssrc,
                     payload=bytes(data[pos:end]), marker=bool(second & 0x80),
                     extensions=extensions)


class RtpStream:
    """One outgoing Opus stream: sequence and timestamp advance (and wrap) per packet."""

    def __init__(self, ssrc: int, *, sequence: int = 0, timestamp: int = 0,
                 payload_type: int = OPUS_PT, samples: int = OPUS_SAMPLES_20MS) -> None:
        self.ssrc = ssrc
        self.sequence = sequence & 0xFFFF
        self.timestamp = timestamp & 0xFFFFFFFF
        self.payload_type = payload_type
        self.samples = samples
        self.sent = 0

    def next_packet(self, level: int, *, voice: bool | None = None,
                    payload: bytes = OPUS_SILENCE) -> bytes:
        """Bytes of the next 20 ms packet carrying `level` (-dBov) in the audio-level element."""
        voice = level < LEVEL_SILENT if voice is None else voice
        packet = RtpPacket(
            payload_type=self.payload_type, sequence=self.sequence, timestamp=self.timestamp,
            ssrc=self.ssrc, payload=payload, marker=self.sent == 0,
            extensions={AUDIO_LEVEL_EXT_ID: audio_level_element(level, voice)},
        )
        data = build_packet(packet)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.samples) & 0xFFFFFFFF
        self.sent += 1
        return data
