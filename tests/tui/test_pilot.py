"""The real app (App.run_test) attached to a real in-process daemon over its Unix socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from councild.config import parse
from councild.daemon import Daemon
from councild.model import Grant, Request, SetAgenda
from devices.sim.x32 import X32Simulator
from tests.chamber import chamber_toml
from tests.helpers import until
from tests.tui.conftest import SIZE, desk_toml, make_app, rows
from tui.app import CouncilApp
from tui.dialogs import ConfirmScreen, FindScreen, HelpScreen, ModeScreen

pytestmark = pytest.mark.timeout(30)

# The brief: panels follow daemon events within a second.
FOLLOW_S = 1.0


def notes(app: CouncilApp) -> list[str]:
    return [n.message for n in app._notifications]


def titles(app: CouncilApp) -> set[str]:
    return {n.title for n in app._notifications}


async def test_grant_selected_requesting_seat(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        daemon.submit(Request(seat="3"), "test")
        seats = app.main.seats
        await until(lambda: "? REQ" in rows(seats)["3"][3], FOLLOW_S)
        assert "3" in rows(app.main.queue)
        # Move the cursor with the keys a technician uses: roster order is C, 1, 2, 3 …
        seats.focus()
        await pilot.press("home", "down", "down", "down")
        assert seats.selected_key == "3"
        await pilot.press("g")
        await until(lambda: daemon.state.speaking("3"))
        await until(lambda: "3" in rows(app.main.speakers), FOLLOW_S)
        assert "● ON" in rows(seats)["3"][3]
        assert "3" not in rows(app.main.queue)


async def test_panels_follow_daemon_events(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE):
        await until(lambda: app.attached)
        daemon.submit(Request(seat="5"), "test")
        daemon.submit(Request(seat="6"), "test")
        await until(lambda: list(rows(app.main.queue)) == ["5", "6"], FOLLOW_S)
        assert rows(app.main.queue)["5"][0] == "1" and rows(app.main.queue)["6"][0] == "2"
        daemon.submit(Grant(seat="6"), "test")
        await until(lambda: list(rows(app.main.speakers)) == ["6"], FOLLOW_S)
        assert list(rows(app.main.queue)) == ["5"]
        # The event log got the grant as it happened.
        await until(lambda: any("Floor to 06 Member 6" in line
                                for line in app.main.event_log.lines), FOLLOW_S)
        # Header: the agenda item moves when the daemon's does.
        daemon.submit(SetAgenda(item=None), "test")
        await until(lambda: "1 Opening" in app.main.header.plain, FOLLOW_S)


async def test_device_health_and_levels_from_x32(tmp_dir: Path) -> None:
    async with X32Simulator() as sim:
        d = Daemon(parse(desk_toml(sim.port)), store_path=tmp_dir / "s.db",
                   socket_path=tmp_dir / "api.sock")
        await d.start()
        try:
            app = make_app(d)
            async with app.run_test(size=SIZE):
                await until(lambda: app.attached)
                await until(lambda: "● connected" in rows(app.main.devices).get("desk", [""])[1],
                            5.0)
                sim.usecases.talk(4, -20.0)
                # The level bar (with the number) follows the desk's meters.
                await until(lambda: rows(app.main.seats)["4"][4].endswith("-20"), 5.0)
                await until(lambda: "♪" in rows(app.main.seats)["4"][3], 5.0)
                sim.usecases.silence(4)
                await until(lambda: not rows(app.main.seats)["4"][4].endswith("-20"), 5.0)
        finally:
            await d.stop()


async def test_disconnect_banner_and_recovery(tmp_dir: Path) -> None:
    config = parse(chamber_toml())
    sock = tmp_dir / "api.sock"
    first = Daemon(config, store_path=tmp_dir / "s.db", socket_path=sock)
    await first.start()
    app = CouncilApp(sock)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        await first.stop()
        await until(lambda: not app.attached and app.main.banner.display)
        assert "disconnected" in app.main.banner.plain
        assert "offline" in app.main.header.plain
        # A key while away: a notification, no crash.
        await pilot.press("n")
        await until(lambda: any("not connected" in m for m in notes(app)))
        second = Daemon(config, store_path=tmp_dir / "s.db", socket_path=sock)
        await second.start()
        try:
            await until(lambda: app.attached, 10.0)  # backoff is capped at 5 s
            assert not app.main.banner.display
            assert app.link is not None and app.link.attaches == 2
            second.submit(Request(seat="2"), "test")
            await until(lambda: "2" in rows(app.main.queue), FOLLOW_S)
        finally:
            await second.stop()


async def test_refusals_become_notifications(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        # Director ops on a chamber without shots: refused (unknown_op from a daemon without
        # a director, "no director" from one with it), shown, no crash.
        for key in ("w", "l", "f", "u"):
            await pilot.press(key)
        await until(lambda: {"wide refused", "lock refused", "force refused",
                             "release refused"} <= titles(app))
        # A floor refusal: revoke a seat that is not speaking.
        app.main.seats.focus()
        await pilot.press("home", "down")
        await pilot.press("r")
        await until(lambda: any("not speaking" in m for m in notes(app)))
        assert app.last_reply is not None and app.last_reply["error"]["code"] == "not_speaking"


async def test_clear_asks_first(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        daemon.submit(Request(seat="1"), "test")
        daemon.submit(Request(seat="2"), "test")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert [w.seat for w in daemon.state.queue] == ["1", "2"]
        await pilot.press("c")
        await pilot.press("y")
        await until(lambda: not daemon.state.queue)
        await until(lambda: not rows(app.main.queue), FOLLOW_S)


async def test_revoke_all_asks_first(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        daemon.submit(Grant(seat="1"), "test")
        daemon.submit(Grant(seat="2"), "test")
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(lambda: not daemon.state.speakers)


async def test_priority_mode_agenda_next(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        await pilot.press("p")
        await until(lambda: daemon.state.priority)
        await until(lambda: "CHAIR PRIORITY" in app.main.header.plain, FOLLOW_S)
        await pilot.press("p")
        await until(lambda: not daemon.state.priority)
        await pilot.press("a")
        await until(lambda: daemon.state.agenda == 0)
        daemon.submit(Request(seat="4"), "test")
        await until(lambda: "4" in rows(app.main.queue), FOLLOW_S)
        await pilot.press("n")
        await until(lambda: daemon.state.speaking("4"))
        await pilot.press("m")
        assert isinstance(app.screen, ModeScreen)
        await pilot.press("home", "enter")  # first entry: open
        await until(lambda: daemon.state.mode.value == "open")
        await until(lambda: "Mode: open" in app.main.header.plain, FOLLOW_S)


async def test_revoke_selected_speaker(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        daemon.submit(Grant(seat="7"), "test")
        await until(lambda: "7" in rows(app.main.speakers), FOLLOW_S)
        # The roster's cursor is on the chair (not speaking): r revokes the speakers' row.
        app.main.seats.focus()
        await pilot.press("home", "r")
        await until(lambda: not daemon.state.speaking("7"))


async def test_find_jumps_the_selection(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        await pilot.press("slash")
        assert isinstance(app.screen, FindScreen)
        await pilot.press(*"member 6", "enter")
        await until(lambda: app.main.seats.selected_key == "6")
        assert app.main.focused is app.main.seats


async def test_help_and_palette(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.screen is app.main
        titles = [c.title for c in app.get_system_commands(app.main)]
        for title in ("Grant", "Next speaker", "Revoke all", "Clear queue", "Lock program",
                      "Wide shot", "Force shot", "Find councillor", "Mode"):
            assert title in titles


@pytest.mark.parametrize("state", [
    {},
    {"seats": None, "speaking": [{"seat": "9"}], "waiting": [{}], "devices": {"x": None},
     "program": {"cameras": {"cam1": None}, "lower_third": "odd"}, "agenda": "odd"},
])
async def test_state_with_missing_or_odd_fields_renders(state: dict) -> None:
    app = CouncilApp(None, clock=lambda: 0.0, fixture=(state, [{"odd": True}]))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.attached)
        await pilot.pause()
        assert "Mode: –" in app.main.header.plain
        assert "Program: –" in app.main.onair.plain
        await pilot.press("g")  # nothing selected, no daemon: a notification, no crash
        await until(lambda: bool(app._notifications))


async def test_log_filter_and_click_select(daemon: Daemon) -> None:
    app = make_app(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.attached)
        daemon.submit(Request(seat="2"), "test")
        daemon.submit(Grant(seat="5"), "test")
        log = app.main.event_log
        await until(lambda: any("Floor to 05 Member 5" in line for line in log.lines), FOLLOW_S)
        await pilot.click("#log-filter")
        await pilot.press(*"floor")
        await until(lambda: bool(log.lines) and all("Floor" in line for line in log.lines))
        # Typing in the filter must not have fired the g (grant) key.
        assert [sp.seat for sp in daemon.state.speakers] == ["5"]
        # A click on a roster row selects it (header is line 0, the chair line 1).
        seats = app.main.seats
        await pilot.click("#seats", offset=(2, 1 + 1 + 3))  # border line + header + row 3
        assert seats.selected_key == "3"
        assert app.main.focused is seats


async def test_hybrid_audio_return_meter_and_devices() -> None:
    state = {"audio": {"room": 2234, "return_dbfs": -30.0, "participants": []},
             "devices": {"chamber-return": {"driver": "ffmpeg", "link": "lost", "errors": 0,
                                            "detail": "ffmpeg exited with code 1: hw:9"}}}
    app = CouncilApp(None, clock=lambda: 0.0, fixture=(state, []))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.attached)
        await pilot.pause()
        assert "Remote return: " in app.main.onair.plain and "-30" in app.main.onair.plain
        app.main.onair.show_return_level(-12.0)  # what the 20 Hz level stream does
        assert "-12" in app.main.onair.plain
        device = rows(app.main.devices)["chamber-return"]
        assert "hw:9" in device[-1]
