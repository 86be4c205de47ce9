"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_binary(name: str, package: str) -> str:
    """Path of a system program; skip without it, but fail in CI where it must be installed."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} not found (Debian package {package}); run scripts/dev.sh test"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return path


async def until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 3.0, interval: float = 0.01
) -> None:
    """Wait until `predicate()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
