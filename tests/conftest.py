import os
from pathlib import Path

import pytest
import torch

# Several pytest processes or a busy CI box: one thread each avoids OpenMP oversubscription (5-10x slowdowns here).
torch.set_num_threads(int(os.environ.get("FACEPRINT_TEST_THREADS", "1")))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LFW_DIR = SHARED / "data" / "lfw"


@pytest.fixture
def lfw_dir() -> Path:
    if not (LFW_DIR / "protocol" / "pairs.txt").exists():
        pytest.skip("../shared/data/lfw is not here")
    return LFW_DIR
