"""The embeddings file format."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.embeddings import EmbeddingSet, embed_paths, list_images


def test_embeddings_file_round_trip(synthetic, tmp_path):
    model = synthetic["model"]
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(model, paths, ids, cache_dir=tmp_path, progress=False)
    es.save(tmp_path / "e.npz")
    back = EmbeddingSet.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(back.embeddings, es.embeddings)
    assert back.identities[0] == "id_030" and back.fingerprint == model.fingerprint
    with pytest.raises(ValueError, match="not a faceprint embeddings file"):
        (tmp_path / "bad.npz").write_text("x")
        EmbeddingSet.load(tmp_path / "bad.npz")
