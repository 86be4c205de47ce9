"""devices.rtp_audio.RtpRelay on real loopback sockets: RTP both ways, and nothing else."""

from __future__ import annotations

import asyncio
import socket

from devices.rtp_audio import RtpRelay
from tests.helpers import until

RTP = bytes([0x80, 111]) + b"\x00\x01" + b"\x00" * 8 + b"opus"


async def test_relay_forwards_rtp_and_drops_the_rest() -> None:
    relay = RtpRelay()
    await relay.open()
    janus = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    janus.bind(("127.0.0.1", 0))
    janus.settimeout(2)
    decoder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    decoder.bind(("127.0.0.1", 0))
    decoder.settimeout(2)
    encoder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    loop = asyncio.get_running_loop()
    try:
        relay.janus = janus.getsockname()
        relay.decoder_port = decoder.getsockname()[1]
        # encoder → relay → Janus, sent from the participant's own port
        encoder.sendto(RTP, ("127.0.0.1", relay.encoder_port))
        data, addr = await loop.run_in_executor(None, janus.recvfrom, 2000)
        assert data == RTP and addr[1] == relay.port
        # Janus → relay → decoder
        janus.sendto(RTP, ("127.0.0.1", relay.port))
        data, _ = await loop.run_in_executor(None, decoder.recvfrom, 2000)
        assert data == RTP
        # not RTP, too short, too long, or from anyone but Janus: counted and dropped
        encoder.sendto(b"hello", ("127.0.0.1", relay.encoder_port))
        janus.sendto(b"\x00" * 20, ("127.0.0.1", relay.port))
        stranger.sendto(RTP, ("127.0.0.1", relay.port))
        encoder.sendto(RTP + b"\x00" * 1600, ("127.0.0.1", relay.encoder_port))
        await until(lambda: relay.malformed == 4, 2)
        assert (relay.sent, relay.received) == (1, 1)
    finally:
        relay.close()
        for s in (janus, decoder, encoder, stranger):
            s.close()
