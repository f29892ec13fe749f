"""`faceprint demo`: the main job end to end on data the demo makes itself.

Until a trained model ships with the package, the demo draws a small set of synthetic identities, trains a
compact model on them for about a minute with online semi-hard mining, and verifies pairs of identities it never
trained on, reporting the LFW-style metrics.
"""

from __future__ import annotations

from pathlib import Path

from faceprint.data.synthetic import make_synthetic_faces
from faceprint.training import TrainConfig, train


def run_demo(out: Path, minutes: float = 1.0) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = out / "synthetic-faces"
    if not (data / "id_059").exists():
        print(f"drawing 60 synthetic identities x 12 images into {data}")
        make_synthetic_faces(data, identities=60, images_per_identity=12, size=112, seed=0)
    run = out / "run"
    config = TrainConfig(
        data=[str(data)], backbone="resnet10_quarter", input_size=64, p=12, k=8, steps=600,
        max_minutes=minutes, val_split=0.25, val_num_pairs=1200, val_every=50, checkpoint_every=50,
        cache_dir=str(out / "cache"),
    )
    resume = (run / "checkpoint.pt").exists()
    result = train(config, run, resume=resume)
    print()
    print(f"trained {result.step} steps of {config.p} x {config.k} faces, online semi-hard triplet mining")
    if result.report is not None:
        print(f"held-out identities (never trained on): {result.report.summary()}")
    print(f"model: {run / 'best.pt'}   curves: {run / 'curves.png'}   metrics: {run / 'metrics.csv'}")
