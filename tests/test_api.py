"""The one-call Python API, on crops of a small trained model (the photo path is in test_pipeline.py)."""

from __future__ import annotations

import numpy as np
import pytest

import faceprint
from faceprint.errors import InputError, ModelMismatchError, NotCalibratedError


def _faces(synthetic, person, n):
    return sorted(p for p in (synthetic["unseen"] / person).iterdir())[:n]


def test_verify_uses_the_stored_threshold(synthetic):
    model = synthetic["model"]
    assert model.config.threshold is not None  # set from the validation pairs at training time
    a, b = _faces(synthetic, "id_035", 2)
    c = _faces(synthetic, "id_036", 1)[0]
    same, diff = faceprint.verify(model, a, b, input="crops"), faceprint.verify(model, a, c, input="crops")
    e = model.embed([a, b, c])  # the network alone, on the same crops
    assert same.distance == pytest.approx(float(((e[0] - e[1]) ** 2).sum()), abs=1e-6)
    assert diff.distance == pytest.approx(float(((e[0] - e[2]) ** 2).sum()), abs=1e-6)
    assert same.distance < diff.distance and same.threshold == model.config.threshold
    assert same.same is (same.distance < model.config.threshold)
    assert faceprint.verify(model, a, c, threshold=4.1, input="crops").same  # every distance on the sphere is < 4.1
    assert same.box_a is None  # crops: no detection, no box


def test_a_model_without_thresholds_says_which_is_missing(synthetic):
    import copy

    bare = copy.deepcopy(synthetic["model"])
    bare.config.threshold = bare.config.cluster_threshold = bare.config.open_set_thresholds = None
    a, b = _faces(synthetic, "id_035", 2)
    with pytest.raises(NotCalibratedError, match="verification threshold") as e:
        faceprint.verify(bare, a, b, input="crops")
    assert "--" not in str(e.value)  # the library knows no command-line flags
    with pytest.raises(NotCalibratedError, match="clustering"):
        faceprint.cluster(bare, synthetic["unseen"], input="crops")
    assert faceprint.cluster(bare, synthetic["unseen"], input="crops", method="kmeans", k=10).result.n_clusters == 10


def test_embed_identify_cluster_in_one_call(synthetic, tmp_path):
    model = synthetic["model"]
    es = faceprint.embed(model, synthetic["unseen"], input="auto")  # the folder records its LFW-style crops
    assert len(es.paths) == 80 and es.fingerprint == model.fingerprint and set(es.identities) == {
        f"id_{i:03d}" for i in range(30, 40)}
    np.testing.assert_allclose(es.embeddings, model.embed(es.paths), atol=1e-6)
    db = tmp_path / "g.db"
    with faceprint.open_gallery(db, model) as g:
        first = [i for i, p in enumerate(es.paths) if p.endswith("000.jpg") and "id_039" not in p]
        g.enroll([(es.identities[i], es.paths[i], f"sha{i}", 0, es.embeddings[i]) for i in first])
    probes = [p for p in es.paths if p.endswith("001.jpg")]
    res = faceprint.identify(model, db, probes, input="crops")
    assert len(res.faces) == 10 and not res.skipped and res.threshold > 0
    right = sum(f.identity == f.image.split("/")[-2] for f in res.faces if "id_039" not in f.image)
    assert right >= 7
    assert [f.identity for f in res.faces if "id_039" in f.image] == ["unknown"]
    c = faceprint.cluster(model, es)  # an EmbeddingSet is clustered as it is
    assert c.threshold == model.config.cluster_threshold and len(c.result.labels) == 80
    es.fingerprint = "0123456789abcdef"
    with pytest.raises(ModelMismatchError, match="made by model 0123456789abcdef"):
        faceprint.cluster(model, es)
    with pytest.raises(InputError, match="files or arrays"):
        faceprint.embed(model, [probes[0], np.zeros((64, 64, 3), np.uint8)])


def test_a_trained_model_always_has_a_fingerprint(synthetic, tmp_path):
    """Loaded: the file's. Fresh or training: computed from the weights, and it changes when they do."""
    from faceprint.models import FaceEmbedder, save_model

    loaded = synthetic["model"]
    fresh = FaceEmbedder(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.eval()
    assert fresh.fingerprint == loaded.fingerprint
    fresh.train()
    with __import__("torch").no_grad():
        fresh.project.weight.add_(0.01)
    fresh.eval()
    assert fresh.fingerprint != loaded.fingerprint
    assert save_model(fresh, tmp_path / "m.pt") == fresh.fingerprint
