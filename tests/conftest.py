from __future__ import annotations

from hypothesis import HealthCheck, settings

# Hypothesis' own deadline is a wall-clock assertion; CI machines are shared and slow, and
# tests must never fail on speed.
settings.register_profile(
    "councild", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("councild")
