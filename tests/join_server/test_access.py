"""Token lookup and the join-attempt limit (pure; the clock is a number)."""

from __future__ import annotations

import pytest

from councild.errors import ConfigError
from councild.join.access import GLOBAL_FACTOR, PREFIX_FACTOR, FailureLimiter, TokenBook

A = "a" * 32
B = "B-" + "x" * 30


def test_lookup_finds_exactly_the_councillor() -> None:
    book = TokenBook({"m1": A, "m2": B})
    assert book.lookup(A) == "m1"
    assert book.lookup(B) == "m2"
    assert book.lookup(A[:-1]) is None
    assert book.lookup(A + "a") is None
    assert book.lookup("") is None
    assert book.lookup("ä" * 32) is None  # non-ASCII is compared too, not an exception


def test_short_tokens_are_a_config_error_naming_the_councillor() -> None:
    with pytest.raises(ConfigError) as err:
        TokenBook({"m1": A, "m7": "short-token"}, "/etc/councild/tokens.toml")
    assert "/etc/councild/tokens.toml" in str(err.value)
    assert "m7" in str(err.value)
    assert "m1" not in str(err.value)


def test_limiter_locks_an_address_out_for_the_window() -> None:
    limiter = FailureLimiter(3, window=60.0)
    for t in (0.0, 1.0, 2.0):
        assert not limiter.blocked("10.0.0.1", t)
        limiter.failed("10.0.0.1", t)
    assert limiter.blocked("10.0.0.1", 3.0)
    assert not limiter.blocked("10.0.0.2", 3.0)  # other addresses are not affected
    assert limiter.blocked("10.0.0.1", 59.9)
    assert not limiter.blocked("10.0.0.1", 60.5)  # the first failure has left the window


def test_limiter_memory_is_bounded() -> None:
    limiter = FailureLimiter(2, window=60.0)
    for i in range(10_050):
        limiter.failed(f"a{i}", float(i) / 1000)
    assert len(limiter._failures) <= 10_000
    assert "a0" not in limiter._failures  # the oldest address was forgotten
    assert limiter.blocked("a0", 11.0)  # ... but the server-wide count still holds
    assert not limiter.blocked("a0", 100.0)


def test_rotating_addresses_does_not_multiply_the_limit() -> None:
    """Issue 16, finding 7: the limit was per address only (1,256 guesses/s by rotating
    source addresses)."""
    limiter = FailureLimiter(3, window=60.0)
    guesses = 0
    for i in range(1, 255):
        address = f"192.0.2.{i}"
        if limiter.blocked(address, 1.0):
            continue
        limiter.failed(address, 1.0)
        guesses += 1
    assert guesses == 3 * PREFIX_FACTOR  # one /24 gets four addresses' worth
    assert limiter.blocked("192.0.2.250", 1.0)
    assert not limiter.blocked("198.51.100.7", 1.0)  # another network is not affected
    for n in range(200):  # many networks: the server-wide budget ends it
        address = f"10.{n}.0.1"
        if not limiter.blocked(address, 2.0):
            limiter.failed(address, 2.0)
            guesses += 1
    assert guesses <= 3 * GLOBAL_FACTOR
    assert limiter.blocked("203.0.113.9", 2.0)
    assert limiter.blocked("2001:db8::1", 2.0)
    assert not limiter.blocked("203.0.113.9", 70.0)


def test_an_address_that_showed_a_valid_token_keeps_only_its_own_budget() -> None:
    """A guessing attack from many networks must not lock out a councillor who joined."""
    limiter = FailureLimiter(3, window=60.0)
    limiter.succeeded("198.51.100.20")
    for n in range(200):
        address = f"10.{n}.0.1"
        if not limiter.blocked(address, 1.0):
            limiter.failed(address, 1.0)
    assert limiter.blocked("203.0.113.9", 1.0)  # the server-wide lock-out
    assert not limiter.blocked("198.51.100.20", 1.0)  # but not for the councillor
    for t in (2.0, 3.0, 4.0):
        limiter.failed("198.51.100.20", t)
    assert limiter.blocked("198.51.100.20", 5.0)  # their own budget still holds
