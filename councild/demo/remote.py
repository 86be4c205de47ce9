"""`councild demo --remote`: remote councillors in the demo, through a real Janus.

A private Janus on loopback, three remote seats added to the demo's config, the join page with
the chamber's programme (ffmpeg's test card and tone), two simulated remote councillors (plain
RTP publishers, see devices/sim/remote.py) and one join link for a real browser. Janus offers
ICE candidates on the machine's network interface (not on loopback), so a browser on this
machine or the local network can join through the link.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from councild.assembly import parse
from councild.config import Config
from councild.i18n import _

# (councillor id, name, party); the last one is left for a browser.
PEOPLE = (("rv1", "Hanna Vogel", "Grüne"), ("rv2", "Erik Lange", "SPD"),
          ("rv3", "Mara Jung", "FDP"))
ROOM = 2020
AUDIO_ROOM = 2021  # the hybrid-audio AudioBridge room
# The chamber's "desk send" in the demo, and the simulated remote councillors' voices.
CHAMBER_SEND = ["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000,volume=0.2"]
REMOTE_TONES = (600.0, 900.0)
SECRET_ENV = "COUNCILD_DEMO_BRIDGE_SECRET"
TEST_CARD = ["-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=15", "-f", "lavfi",
             "-i", "sine=frequency=330:sample_rate=48000"]


class RemoteDemo:
    def __init__(self, config_path: str, join_port: int) -> None:
        self.config_path = config_path
        self.join_port = join_port
        self.folder = Path(tempfile.mkdtemp(prefix="councild-remote-"))
        self.janus: Any = None
        self.sim: Any = None
        self.voices: Any = None  # the simulated councillors in the AudioBridge
        self.ffmpeg = shutil.which("ffmpeg")
        self.tokens: dict[str, str] = {}
        self._displays: dict[str, str] = {}

    def start(self) -> Config:
        """Janus up, tokens written; the demo's config with the remote seats added."""
        from devices.sim.janus_server import JanusServer

        binary = shutil.which("janus")
        if binary is None:
            raise RuntimeError(_("--remote needs Janus (Debian package janus)"))
        (self.folder / "janus").mkdir()
        self.janus = JanusServer(binary, self.folder / "janus", ice_enforce_list=_lan_interface())
        self.janus.start()
        os.environ[SECRET_ENV] = secrets.token_urlsafe(16)
        # Only the councillor who joins with a browser has a token (the join page binds it);
        # the simulated ones are matched by name.
        self.tokens = {cid: secrets.token_urlsafe(24) for cid, _n, _p in PEOPLE[-1:]}
        tokens = self.folder / "tokens.toml"
        fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f'{cid} = "{t}"\n' for cid, t in self.tokens.items()))
        text = Path(self.config_path).read_text(encoding="utf-8")
        return parse(text + self._overlay(tokens), self.config_path + " (+ demo --remote)")

    def _overlay(self, tokens: Path) -> str:
        parts = ["\n# --- added by councild demo --remote ---\n"]
        for i, (cid, name, party) in enumerate(PEOPLE, 1):
            parts.append(f'[[councillors]]\nid = "{cid}"\nname = "{name}"\nparty = "{party}"\n')
            parts.append(f'[[seats]]\nid = "R{i}"\nlabel = "R{i}"\ncouncillor = "{cid}"\n'
                         'remote = true\n')
        parts.append(f'[devices.bridge]\ndriver = "janus"\nurl = "{self.janus.url}"\n'
                     f'room = {ROOM}\nsecret_env = "{SECRET_ENV}"\ncreate_room = true\n'
                     'audio_active_packets = 25\n')
        parts.append(f'[bridge]\ndevice = "bridge"\ntokens_file = "{tokens}"\n')
        parts.append(f'[join]\nenabled = true\nbind = "127.0.0.1:{self.join_port}"\n')
        if self.ffmpeg is not None:
            card = ", ".join(f'"{a}"' for a in TEST_CARD)
            parts.append(f'[join.chamber]\ninput = [{card}]\n')
            # hybrid audio: a tone as the chamber's send, the return decoded for its meter
            send = ", ".join(f'"{a}"' for a in CHAMBER_SEND)
            parts.append(f'[bridge.audio]\nurl = "{self.janus.url}"\nroom = {AUDIO_ROOM}\n'
                         f'secret_env = "{SECRET_ENV}"\nsend = [{send}]\n')
        return "\n".join(parts)

    async def start_people(self) -> None:
        """The simulated remote councillors join; the last one's link is for a browser."""
        from devices.sim.remote import RemoteCouncillors

        # Simulated councillors have no page to bind them: they have no token and are
        # recognised by name (a token is never put in a display: the room would see it).
        self._displays = {name: name for _cid, name, _p in PEOPLE[:-1]}
        self.sim = RemoteCouncillors(self.janus.url, ROOM, os.environ[SECRET_ENV],
                                     list(self._displays.values()),
                                     video=self.ffmpeg is not None)
        await self.sim.start()
        if self.ffmpeg is not None:
            from devices.sim.remote import AudioRemoteCouncillors

            # Their voices: a tone each in the AudioBridge, muted until they have the floor;
            # the TUI's "Remote return" meter moves when one of them is granted.
            self.voices = AudioRemoteCouncillors(self.janus.url, AUDIO_ROOM)
            for (_cid, name, _p), tone in zip(PEOPLE[:-1], REMOTE_TONES, strict=True):
                self.voices.add(name, tone, [], display=self._displays[name])
            await self.voices.start()
        cid, name, _party = PEOPLE[-1]
        print(_("join page for {name}: http://127.0.0.1:{port}/join/{token}").format(
            name=name, port=self.join_port, token=self.tokens[cid]), file=sys.stderr,
            flush=True)

    def talk(self, name: str, on: bool) -> None:
        if self.sim is not None and name in self._displays:
            self.sim.usecases.talk(self._displays[name], on)

    async def stop(self) -> None:
        if self.voices is not None:
            await self.voices.stop()
        if self.sim is not None:
            await self.sim.stop()
        if self.janus is not None:
            self.janus.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _lan_interface() -> str:
    """The interface of the default route: where a browser on this machine or the LAN can
    reach Janus (Janus offers no loopback candidates). "lo" without a network."""
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 1 and fields[1] == "00000000":
                return fields[0]
    except OSError:
        pass
    return "lo"
