import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("SELFSUP_TEST_THREADS", "2")))  # 1 when a benchmark holds a core

DATA = Path(os.environ.get("SELFSUP_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.exists():
        pytest.skip(f"shared datasets not found at {DATA} (set SELFSUP_DATA)")
    return DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFSUP_CACHE", str(tmp_path / "cache"))
