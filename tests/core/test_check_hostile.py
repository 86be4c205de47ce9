"""`councild check` on hostile files (issue 16, finding 7): tracebacks for non-UTF-8, deeply
nested TOML and /dev/zero, a hang on a FIFO, and a string or out-of-range channel accepted."""

from __future__ import annotations

import os

import pytest

from councild.cli import main
from tests.chamber import chamber_toml

pytestmark = pytest.mark.timeout(30)

X32 = '[devices.desk]\ndriver = "x32"\nhost = "127.0.0.1"\n'


def check(path, capsys) -> str:
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_not_utf8(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_bytes(chamber_toml().encode() + b'\n# \xff\xfe broken\n')
    assert "not UTF-8" in check(f, capsys)


def test_deeply_nested(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "(syntax)" in check(f, capsys)


def test_dev_zero_and_a_fifo(tmp_path, capsys):
    assert "not a regular file" in check("/dev/zero", capsys)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    assert "not a regular file" in check(fifo, capsys)


def test_channel_as_a_string(tmp_path, capsys):
    text = chamber_toml(members=2).replace(
        'councillor = "m1"\n', 'councillor = "m1"\nmic = { device = "desk", channel = "1" }\n')
    f = tmp_path / "c.toml"
    f.write_text(text + X32)
    assert "seats[1].mic.channel" in check(f, capsys)


def test_channel_beyond_the_desk(tmp_path, capsys):
    text = chamber_toml(members=2).replace(
        'councillor = "m1"\n', 'councillor = "m1"\nmic = { device = "desk", channel = 40 }\n')
    f = tmp_path / "c.toml"
    f.write_text(text + X32)
    err = check(f, capsys)
    assert "seats[1].mic.channel" in err and "1..32" in err
    f.write_text(text.replace("channel = 40", "channel = 32") + X32)
    assert main(["check", "-c", str(f)]) == 0
