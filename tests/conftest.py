from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis' own deadline is a wall-clock assertion; CI machines are shared and slow, and
# tests must never fail on speed.
settings.register_profile(
    "councild", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("councild")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temporary directory: Unix socket paths are limited to ~107 bytes."""
    with tempfile.TemporaryDirectory(prefix="cd-") as d:
        yield Path(d)
