from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# ../shared/data beside the checkout holds real public dialogue data (not part of the repository).
SHARED = Path(os.environ.get("CONFAB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"real data {relative} not found under {SHARED} (set CONFAB_SHARED_DATA to its folder)")
    return path


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
