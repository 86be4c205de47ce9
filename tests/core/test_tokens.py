"""`councild tokens`: join tokens for remote councillors, in a file only the daemon's user
can read, recognised by the bridge's participant matching."""

from __future__ import annotations

import os
import stat
import tomllib

from councild.assembly import load_tokens
from councild.cli import main
from councild.remote import KnownCouncillor, match_participant
from tests.chamber import chamber_toml

REMOTE = '[[seats]]\nid = "R1"\nlabel = "R1"\ncouncillor = "m1"\nremote = true\n' \
         '[[seats]]\nid = "R2"\nlabel = "R2"\ncouncillor = "m2"\nremote = true\n' \
         '[devices.bridge]\ndriver = "janus"\n[bridge]\ndevice = "bridge"\n'


def test_tokens_file_is_private_kept_and_rotated(tmp_path, capsys):
    config = tmp_path / "council.toml"
    config.write_text(chamber_toml(extra=REMOTE))
    tokens = tmp_path / "secret" / "tokens.toml"
    assert main(["tokens", "-c", str(config), "-o", str(tokens)]) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(os.stat(tokens).st_mode) == 0o600
    first = tomllib.loads(tokens.read_text())
    assert sorted(first) == ["m1", "m2"]  # the councillors with a remote seat
    assert all(len(t) >= 32 for t in first.values())
    assert first["m1"] not in out  # hidden unless asked for

    assert main(["tokens", "-c", str(config), "-o", str(tokens)]) == 0
    assert tomllib.loads(tokens.read_text()) == first  # kept

    assert main(["tokens", "-c", str(config), "-o", str(tokens), "--councillor", "m2",
                 "--rotate", "--show"]) == 0
    after = tomllib.loads(tokens.read_text())
    assert after["m1"] == first["m1"] and after["m2"] != first["m2"]
    assert after["m2"] in capsys.readouterr().out

    # The daemon reads them; a councillor with a token is recognised by the join page alone:
    # neither the name nor the token in a display (the room sees displays) is enough.
    loaded = load_tokens(tokens)
    known = [KnownCouncillor("m2", "Member 2", loaded["m2"])]
    assert match_participant(f"Member 2 #{loaded['m2']}", known).councillor is None
    assert match_participant("Member 2", known).councillor is None


def test_unknown_councillor_is_refused(tmp_path, capsys):
    config = tmp_path / "council.toml"
    config.write_text(chamber_toml(extra=REMOTE))
    code = main(["tokens", "-c", str(config), "-o", str(tmp_path / "t.toml"),
                 "--councillor", "ghost"])
    assert code == 2
    assert "ghost" in capsys.readouterr().err


def test_links_use_the_public_url(tmp_path, capsys):
    config = tmp_path / "council.toml"
    config.write_text(chamber_toml(extra=REMOTE + '[join]\npublic_url = "https://rat.example.de:8443"\n'))
    tokens = tmp_path / "tokens.toml"
    assert main(["tokens", "-c", str(config), "-o", str(tokens), "--links"]) == 0
    out = capsys.readouterr().out
    made = tomllib.loads(tokens.read_text())
    assert f"https://rat.example.de:8443/join/{made['m1']}" in out
    assert f"https://rat.example.de:8443/join/{made['m2']}" in out


def test_join_config_errors_name_the_key(tmp_path, capsys):
    config = tmp_path / "council.toml"
    config.write_text(chamber_toml(extra=REMOTE + '[join]\nenabled = true\nbind = "nohost"\n'))
    assert main(["check", "-c", str(config)]) == 2
    assert "join.bind: 'nohost' is not host:port" in capsys.readouterr().err
    config.write_text(chamber_toml(extra=REMOTE + '[join]\nenabled = true\n'
                                   'tls_cert = "/nonexistent.pem"\n'
                                   f'janus_js = "{tmp_path}/missing.js"\n'))
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "join.tls_key: tls_cert and tls_key go together" in err
    assert "join.tls_cert: no such file: /nonexistent.pem" in err
    assert "missing.js (Debian package libjs-janus-gateway)" in err
    assert "join.enabled" in err and "tokens_file" in err  # no tokens file configured


def test_join_page_checks_the_tokens_file_at_start(tmp_path, capsys):
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('m1 = "too-short"\n')
    tokens.chmod(0o600)
    config = tmp_path / "council.toml"
    config.write_text(chamber_toml(extra=REMOTE.replace(
        '[bridge]\ndevice = "bridge"\n',
        f'[bridge]\ndevice = "bridge"\ntokens_file = "{tokens}"\n') + '[join]\nenabled = true\n'))
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"bridge.tokens_file: {tokens}: m1: token shorter than 20 characters" in err
    assert "too-short" not in err  # a token is never printed, not even a bad one
    tokens.chmod(0o644)
    assert main(["check", "-c", str(config)]) == 2
    assert "readable by other users; chmod 600" in capsys.readouterr().err


def test_a_stale_or_symlinked_tmp_is_never_used(tmp_path, capsys):
    """Issue 16, finding 7: `tokens` wrote through a symlinked `.tmp` (or reused a stale one)."""
    config = tmp_path / "council.toml"
    config.write_text(chamber_toml(extra=REMOTE))
    tokens = tmp_path / "tokens.toml"
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    (tmp_path / "tokens.toml.tmp").symlink_to(victim)
    assert main(["tokens", "-c", str(config), "-o", str(tokens)]) == 0
    assert victim.read_text() == "untouched\n"
    assert not tokens.is_symlink() and stat.S_IMODE(os.stat(tokens).st_mode) == 0o600
    assert sorted(tomllib.loads(tokens.read_text())) == ["m1", "m2"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == ["tokens.toml.tmp"]  # only the planted one; none of ours


def test_the_first_tokens_file_with_the_join_page_enabled(tmp_path, capsys):
    """Issue 16, finding 7: with the join page enabled, the missing tokens file was a
    configuration error, so `councild tokens` could not write the first one."""
    tokens = tmp_path / "tokens.toml"
    config = tmp_path / "council.toml"
    config.write_text(chamber_toml(extra=REMOTE.replace(
        '[bridge]\ndevice = "bridge"\n',
        f'[bridge]\ndevice = "bridge"\ntokens_file = "{tokens}"\n')
        .replace('driver = "janus"\n', 'driver = "janus"\nurl = "ws://127.0.0.1:1"\n'
                 'room = 1\n') + '[join]\nenabled = true\n'))
    assert main(["check", "-c", str(config)]) == 2  # the daemon still needs the file
    capsys.readouterr()
    assert main(["tokens", "-c", str(config)]) == 0
    assert sorted(tomllib.loads(tokens.read_text())) == ["m1", "m2"]
    assert main(["check", "-c", str(config)]) == 0
