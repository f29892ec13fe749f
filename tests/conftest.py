import os
import shutil
from pathlib import Path

import pytest
import torch

from faceprint.data.synthetic import make_synthetic_faces
from faceprint.models import load_model
from faceprint.training import TrainConfig, train

# One pytest process: at most 2 threads (the CI machine has 2 cores; oversubscribed OpenMP runs 5-10x slower).
torch.set_num_threads(int(os.environ.get("FACEPRINT_TEST_THREADS", str(min(2, os.cpu_count() or 1)))))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LFW_DIR = SHARED / "data" / "lfw"


@pytest.fixture
def lfw_dir() -> Path:
    if not (LFW_DIR / "protocol" / "pairs.txt").exists():
        pytest.skip("../shared/data/lfw is not here")
    return LFW_DIR


@pytest.fixture
def photos() -> Path:
    """The 22 photos the package ships for the demo (6 people from LFW, one folder each): real photos for every
    photo-path test, present in every checkout."""
    from faceprint.demo import PHOTOS

    return PHOTOS


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A small trained model and the synthetic identities it was trained on (30) and never saw (10)."""
    root = tmp_path_factory.mktemp("synthetic")
    faces = make_synthetic_faces(root / "faces", identities=40, images_per_identity=8, size=64, seed=5)
    train_dir, unseen = root / "train", root / "unseen"
    train_dir.mkdir()
    unseen.mkdir()
    for i, d in enumerate(sorted(p for p in faces.iterdir() if p.is_dir())):
        d.rename((train_dir if i < 30 else unseen) / d.name)
    for d in (train_dir, unseen):  # both halves hold the generator's LFW-style crops, and say so
        shutil.copy(faces / "alignment.json", d / "alignment.json")
    cfg = TrainConfig(data=[str(train_dir)], backbone="resnet10_quarter", input_size=48, p=10, k=4, steps=150,
                      val_every=150, val_split=0.2, val_num_pairs=400, cache_dir=str(root / "cache"),
                      progress=False, threads=2, checkpoint_every=1000)
    train(cfg, root / "run")
    model = load_model(root / "run" / "best.pt")
    return {"model_path": root / "run" / "best.pt", "model": model, "train": train_dir, "unseen": unseen,
            "cache": root / "cache"}
