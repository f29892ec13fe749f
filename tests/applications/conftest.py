import pytest

from faceprint.data.synthetic import make_synthetic_faces
from faceprint.models import load_model
from faceprint.training import TrainConfig, train


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A small trained model and the synthetic identities it was trained on (30) and never saw (10)."""
    root = tmp_path_factory.mktemp("synthetic")
    faces = make_synthetic_faces(root / "faces", identities=40, images_per_identity=8, size=64, seed=5)
    train_dir, unseen = root / "train", root / "unseen"
    train_dir.mkdir()
    unseen.mkdir()
    for i, d in enumerate(sorted(faces.iterdir())):
        d.rename((train_dir if i < 30 else unseen) / d.name)
    cfg = TrainConfig(data=[str(train_dir)], backbone="resnet10_quarter", input_size=48, p=10, k=4, steps=150,
                      val_every=150, val_split=0.2, val_num_pairs=400, cache_dir=str(root / "cache"),
                      progress=False, threads=2, checkpoint_every=1000)
    train(cfg, root / "run")
    model = load_model(root / "run" / "best.pt")
    return {"model_path": root / "run" / "best.pt", "model": model, "train": train_dir, "unseen": unseen,
            "cache": root / "cache"}
