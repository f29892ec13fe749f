"""The model shipped in the package: loads alone, carries its settings, and tells people apart on real photos."""

import numpy as np
import pytest

import faceprint
from faceprint.api import DEFAULT_MODEL
from faceprint.demo import PHOTOS
from faceprint.detection.pipeline import FaceAligner

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no model shipped")


def test_shipped_model_loads_with_its_settings():
    model = faceprint.load()
    assert model.fingerprint and model.config.threshold is not None
    assert model.config.preprocessing.alignment == "lfw" and model.config.distance == "squared_l2"
    assert DEFAULT_MODEL.stat().st_size < 5_000_000


def test_shipped_model_on_the_demo_photos():
    model = faceprint.load()
    aligner = FaceAligner(model.preprocessing, select="best")
    people = ["Colin_Powell", "Serena_Williams", "Laura_Bush"]
    stored, who = [], []
    for name in people:
        for p in sorted((PHOTOS / name).iterdir())[:3]:
            stored.append(model.preprocessing.from_array(aligner.align_path(p)[0].image))
            who.append(name)
    e = model.embed(np.stack(stored))
    d = ((e[:, None] - e[None]) ** 2).sum(-1)
    who = np.array(who)
    same = (who[:, None] == who[None]) & ~np.eye(len(who), dtype=bool)
    diff = who[:, None] != who[None]
    # Measured when shipped: mean distance 0.81 within a person vs 2.10 between people; 67% of same-person pairs
    # under the threshold, 96% of different-person pairs above it. A broken crop or normalisation loses this.
    assert d[same].mean() + 0.8 < d[diff].mean()
    assert (d[same] < model.config.threshold).mean() >= 0.6 and (d[diff] >= model.config.threshold).mean() >= 0.9
