import os
from pathlib import Path

import pytest
import torch

# One pytest process: at most 2 threads (the CI machine has 2 cores; oversubscribed OpenMP runs 5-10x slower).
torch.set_num_threads(int(os.environ.get("FACEPRINT_TEST_THREADS", str(min(2, os.cpu_count() or 1)))))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LFW_DIR = SHARED / "data" / "lfw"


@pytest.fixture
def lfw_dir() -> Path:
    if not (LFW_DIR / "protocol" / "pairs.txt").exists():
        pytest.skip("../shared/data/lfw is not here")
    return LFW_DIR
