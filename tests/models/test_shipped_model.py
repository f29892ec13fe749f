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


def test_shipped_model_rejects_the_demo_stranger():
    """The demo's promise: with two photos of each of five people enrolled, the stranger comes out unknown at the
    model's own open-set threshold (fitted on held-out identities in training, not on these photos)."""
    from faceprint.demo import ENROLLED_PER_PERSON, STRANGER

    from faceprint.evaluation.identification import open_set_threshold

    model = faceprint.load()
    assert model.config.open_set_thresholds
    aligner = FaceAligner(model.preprocessing, select="best")
    gallery, strangers = [], []
    for person in sorted(PHOTOS.iterdir()):
        photos = sorted(person.iterdir())
        chosen = photos if person.name == STRANGER else photos[:ENROLLED_PER_PERSON]
        faces = [model.preprocessing.from_array(aligner.align_path(p)[0].image) for p in chosen]
        (strangers if person.name == STRANGER else gallery).extend(faces)
    g, s = model.embed(np.stack(gallery)), model.embed(np.stack(strangers))
    nearest = ((s[:, None] - g[None]) ** 2).sum(-1).min(1)
    t, _ = open_set_threshold(model.config.open_set_thresholds, len(gallery) // ENROLLED_PER_PERSON)
    assert (nearest >= t).all()
