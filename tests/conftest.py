"""Shared fixtures: a fresh registry per test, and the public benchmark data when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from astraguard_train.plugins import build_registry

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def registry():
    """A fresh registry (built-ins and installed plugins); no state shared between tests."""
    return build_registry()


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; tests using it skip with a reason when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public benchmark data not found at {SHARED_DATA} (CI always has it)")
    return SHARED_DATA
