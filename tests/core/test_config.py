"""`councild check`: the example config passes; every kind of error names file, key and reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from councild.cli import main
from councild.config import default_path, parse
from councild.errors import ConfigError
from tests.chamber import chamber_toml


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "council.toml"
    path.write_text(text)
    code = main(["check", "-c", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_example_config_passes_as_a_real_command():
    result = subprocess.run(
        [sys.executable, "-m", "councild.cli", "check", "-c", str(default_path())],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "seats: 24" in result.stdout
    assert "device desk: x32" in result.stdout


def test_example_config_describes_the_chamber():
    config = parse(default_path().read_text(), "config.toml")
    roles = [config.seat_role(s).value for s in config.seats]
    assert roles.count("chair") == 1 and roles.count("clerk") == 1
    assert len(config.seats) == 24


DESK = '\n[devices.desk]\ndriver = "x32"\nhost = "127.0.0.1"\nport = 10023\n'

CASES = {
    "unknown key": (chamber_toml(extra="[floor2]\nx = 1\n"), "floor2", "Extra inputs"),
    "unknown nested key": (
        chamber_toml().replace('mode = "request"', 'mode = "request"\nmax_opne = 3'),
        "floor.max_opne", "Extra inputs"),
    "wrong type": (chamber_toml().replace("max_open = 2", 'max_open = "two"'),
                   "floor.max_open", "integer"),
    "bad enum": (chamber_toml().replace('mode = "request"', 'mode = "chaos"'),
                 "floor.mode", "open"),
    "undefined device": (
        chamber_toml(extra='[[seats]]\nid = "X"\nlabel = "X"\nmic = { device = "nodesk", '
                     'channel = 3 }\n'),
        "seats[9].mic.device", "undefined device 'nodesk'"),
    "undefined councillor": (
        chamber_toml(extra='[[seats]]\nid = "X"\nlabel = "X"\ncouncillor = "ghost"\n'),
        "seats[9].councillor", "undefined councillor 'ghost'"),
    "two seats on one channel": (
        chamber_toml(extra=DESK + '[[seats]]\nid = "X"\nlabel = "X"\nmic = { device = "desk", '
                     'channel = 3 }\n[[seats]]\nid = "Y"\nlabel = "Y"\nmic = { device = '
                     '"desk", channel = 3 }\n'),
        "seats[10].mic", "both on desk channel 3"),
    "shot naming an undefined scene": (
        chamber_toml(extra='[shots.wide]\nscene = "Nowhere"\n'),
        "shots.wide.scene", "undefined scene 'Nowhere'"),
    "duplicate seat id": (
        chamber_toml(extra='[[seats]]\nid = "3"\nlabel = "again"\n'),
        "seats", "duplicate seat id '3'"),
    "duplicate councillor id": (
        chamber_toml(extra='[[councillors]]\nid = "m1"\nname = "Twin"\n'),
        "councillors", "duplicate councillor id 'm1'"),
    "unknown driver": (
        chamber_toml(extra='[devices.desk]\ndriver = "mackie"\n'),
        "devices.desk.driver", "unknown driver 'mackie'"),
    "bad device option": (
        chamber_toml(extra=DESK.replace("port = 10023", 'port = "high"')),
        "devices.desk.port", "integer"),
    "toml syntax": (chamber_toml() + "\n[broken\n", "(syntax)", "line"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_error_names_file_key_and_reason(case, tmp_path, capsys):
    text, key, reason = CASES[case]
    code, output = check(tmp_path, text, capsys)
    assert code == 2
    line = next((x for x in output.splitlines() if f": {key}: " in x), None)
    assert line is not None, output
    assert str(tmp_path / "council.toml") in line
    assert reason in line


def test_all_problems_are_listed_at_once(tmp_path, capsys):
    text = chamber_toml(extra='[[seats]]\nid = "3"\nlabel = "again"\ncouncillor = "ghost"\n'
                        '[shots.wide]\nscene = "Nowhere"\n')
    with pytest.raises(ConfigError) as err:
        parse(text, "x.toml")
    keys = [k for k, _ in err.value.problems]
    assert {"seats", "seats[9].councillor", "shots.wide.scene"} <= set(keys)


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    code = main(["check", "-c", str(tmp_path / "nope.toml")])
    assert code == 2
    assert "nope.toml: (file): No such file" in capsys.readouterr().err
