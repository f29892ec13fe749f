import numpy as np
import pytest
from PIL import Image

from faceprint.data import FaceDataset


def _make(root, spec):
    for ident, n in spec.items():
        (root / ident).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i, 0, 0)).save(root / ident / f"{i}.png")
    return root


def test_roots_combined_and_identities_excluded(tmp_path):
    a = _make(tmp_path / "a", {"ann": 2, "bob": 3})
    b = _make(tmp_path / "b", {"cid": 1, "bob": 1, "dan": 2})
    (tmp_path / "b" / "dan" / "notes.txt").write_text("not an image")
    ds = FaceDataset.from_folders([a, b], exclude={"dan"})
    assert ds.identities == ["ann", "bob", "cid"]
    assert len(ds) == 2 + 4 + 1
    assert np.bincount(ds.labels).tolist() == [2, 4, 1]
    assert all(ds.identities[label] == p.parent.name for p, label in zip(ds.paths, ds.labels))


def test_empty_and_missing_roots_are_errors(tmp_path):
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        FaceDataset.from_folders(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        FaceDataset.from_folders(tmp_path / "nope")


def test_split_identities_is_disjoint(tmp_path):
    ds = FaceDataset.from_folders(_make(tmp_path, {f"p{i}": 2 for i in range(20)}))
    train, held = ds.split_identities(0.25, seed=1)
    assert len(held.identities) == 5 and not set(train.identities) & set(held.identities)
    assert len(train) + len(held) == len(ds)
    assert held.labels.max() == 4  # renumbered densely
