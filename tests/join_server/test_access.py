"""Token lookup and the join-attempt limit (pure; the clock is a number)."""

from __future__ import annotations

import pytest

from councild.errors import ConfigError
from councild.join.access import FailureLimiter, TokenBook

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
    assert not limiter.blocked("a0", 11.0)
