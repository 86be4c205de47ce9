"""An imported session on air: `councild oparl import` from the recorded Hürtgenwald server,
then `councild demo` with the example chamber and that session, a real OBS reading the
lower third, and the TUI attached: real names, parties and numbered agenda items."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from councild.api import ApiClient
from councild.config import load
from councild.obs_setup import collection_for
from scenes.headless import HeadlessObs
from scenes.obs_client import ObsClient, ObsOptions
from tests.helpers import until
from tests.oparl.server import RecordedOParl, read_recording, tarball_path
from tests.oparl.support import DAY_8, MEETING_8, chamber_toml, cli, expected_members, local
from tests.scenes_obs.conftest import require_obs
from tests.tui.conftest import SIZE, rows
from tui.app import CouncilApp

pytestmark = pytest.mark.timeout(150)

PASSWORD_ENV = "COUNCILD_TEST_OPARL_OBS_PASSWORD"
ITEM_5 = "Item 5 — Antrag der CDU-Fraktion vom 02.09.2021 hier: Grundsatzentscheidung " \
         "Brikettieranlage"
# What the lower third must call each Fraktion of Hürtgenwald (none has an OParl shortName):
# the built-in abbreviations, and the chamber's [parties] for the local group.
SHORT = {"Christlich Demokratische Union": "CDU", "Sozialdemokratische Partei Deutschlands":
         "SPD", "Freie Demokratische Partei": "FDP", "Bündnis 90/Die Grünen": "Grüne",
         "Freie für Hürtgenwald": "FFH"}


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def oparl() -> Iterator[RecordedOParl]:
    server = RecordedOParl(read_recording(tarball_path())).start()
    try:
        yield server
    finally:
        server.stop()


def _start_demo(chamber: Path, session: Path, sock: Path, err: Path,
                password: str) -> subprocess.Popen[bytes]:
    with err.open("wb") as err_file:
        return subprocess.Popen(
            [sys.executable, "-m", "councild.cli", "demo", "--no-tui", "--seconds", "90",
             "-c", str(chamber), "--session", str(session), "--socket", str(sock)],
            stdout=subprocess.DEVNULL, stderr=err_file, stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, PASSWORD_ENV: password, "PYTHONUNBUFFERED": "1"})


async def _text(client: ObsClient, source: str) -> str:
    return str((await client.get_input_settings(source))["text"])


async def test_imported_session_in_the_demo_tui_and_lower_third(oparl: RecordedOParl,
                                                                short_tmp: Path) -> None:
    require_obs()
    obs_port = _free_port()
    chamber = short_tmp / "chamber.toml"
    chamber.write_text(chamber_toml(oparl).replace("port = 4455", f"port = {obs_port}")
                       .replace('password_env = "COUNCILD_OBS_PASSWORD"',
                                f'password_env = "{PASSWORD_ENV}"')
                       .replace("port = 10023", f"port = {_free_port(socket.SOCK_DGRAM)}"),
                       encoding="utf-8")
    session = short_tmp / "session.toml"
    imported = cli("oparl", "import", oparl.url("system"), "--meeting", MEETING_8,
                   "-c", str(chamber), "-o", str(session))
    assert imported.returncode == 0, imported.stderr
    check = cli("check", "-c", str(chamber), "--session", str(session))
    assert check.returncode == 0, check.stderr

    config = load(chamber, session)
    fraktion = {local(oparl, k): v for k, v in expected_members(oparl, DAY_8).items()}
    seated = {}  # name → what the lower third's detail line starts with
    seat_of = {}  # seat id → (name, party as shown)
    for seat in config.seats:
        c = config.councillor(seat.councillor)
        if c is not None:
            party = SHORT[fraktion[c.oparl_id]]  # type: ignore[index]
            seated[c.name] = ("Chair · " if c.role.value == "chair" else "") + party
            seat_of[seat.id] = (c.name, party)
    assert len(seated) == 23

    sock = short_tmp / "demo.sock"
    err = short_tmp / "demo.err"
    async with HeadlessObs(collection=collection_for(config, canvas=(640, 360)),
                           port=obs_port, canvas=(640, 360)) as obs:
        demo = _start_demo(chamber, session, sock, err, obs.password)
        watch = ObsClient(ObsOptions(host="127.0.0.1", port=obs.port), lambda e: None,
                          password=obs.password, name="observer")
        try:
            await until(lambda: sock.exists() or demo.poll() is not None, 30)
            assert demo.poll() is None, err.read_text(errors="replace")
            client = await ApiClient.connect(sock)
            try:
                reply = await client.request("agenda", item="5")
                assert reply["ok"], reply
                state = (await client.request("state"))["state"]
            finally:
                await client.close()
            assert state["session"]["title"] == "Gemeinderat (8. Sitzung)"
            assert state["agenda"]["label"] == ITEM_5

            # The TUI: the numbered item in the header, real names and parties in the roster.
            app = CouncilApp(sock)
            async with app.run_test(size=SIZE):
                await until(lambda: app.attached, 10)
                await until(lambda: ITEM_5[:40] in app.main.header.plain, 5)
                assert "Gemeinderat (8. Sitzung)" in app.main.header.plain
                roster = rows(app.main.seats)
                for seat_id, (name, party) in seat_of.items():
                    shown_name, shown_party = roster[seat_id][1], roster[seat_id][2]
                    # The roster cuts long names to its column ("Heinz Kauman…").
                    assert name.startswith(shown_name.removesuffix("…")), (name, shown_name)
                    assert len(shown_name) >= min(len(name), 12)
                    assert shown_party == party, (name, shown_party)

            # The lower third in OBS, read back: a councillor the scripted floor called.
            await watch.start()
            await watch.wait_ready()

            async def lower_third_shows_a_councillor() -> bool:
                return await _text(watch, "Lower third name") in seated

            await until(lower_third_shows_a_councillor, 60, interval=0.3)
            name = await _text(watch, "Lower third name")
            detail = await _text(watch, "Lower third detail")
            assert detail == f"{seated[name]} · {ITEM_5}", (name, detail)
        finally:
            await watch.stop()
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGINT)
            try:
                code = demo.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
                raise
        assert code == 0, err.read_text(errors="replace")
