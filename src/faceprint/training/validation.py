"""Validation during training: pairs of identities the model never trains on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceprint.data import (
    DecodedImages,
    FaceDataset,
    Pair,
    Preprocessing,
    read_lfw_pairs,
)
from faceprint.errors import InputError
from faceprint.evaluation import VerificationReport, evaluate_verification
from faceprint.models import FaceEmbedder


@dataclass
class PairSet:
    """Unique images and pairs as index pairs into them, so each image is embedded once."""

    paths: list[Path]
    left: np.ndarray
    right: np.ndarray
    same: np.ndarray
    folds: np.ndarray

    @classmethod
    def from_pairs(cls, pairs: list[Pair], n_folds: int | None = None) -> PairSet:
        paths = sorted({p for pair in pairs for p in (pair.path1, pair.path2)})
        index = {p: i for i, p in enumerate(paths)}
        folds = np.array([p.fold for p in pairs])
        if n_folds is not None:
            folds = np.arange(len(pairs)) % n_folds
        return cls(
            paths,
            np.array([index[p.path1] for p in pairs]),
            np.array([index[p.path2] for p in pairs]),
            np.array([p.same for p in pairs]),
            folds,
        )


def make_pairs(dataset: FaceDataset, n_pairs: int, seed: int = 0, n_folds: int = 10) -> list[Pair]:
    """Up to n_pairs / 2 same-identity pairs (distinct images) and the rest different-identity pairs."""
    rng = np.random.default_rng(seed)
    by_id = [np.flatnonzero(dataset.labels == i) for i in range(dataset.num_identities)]
    candidates = [(a, b) for members in by_id if len(members) > 1
                  for i, a in enumerate(members) for b in members[i + 1 :]]
    if not candidates:
        raise InputError("validation identities need at least 2 images each to form positive pairs")
    n_pos = min(n_pairs // 2, len(candidates))
    pos = [candidates[i] for i in rng.choice(len(candidates), n_pos, replace=False)]
    n = len(dataset)
    available = n * (n - 1) // 2 - len(candidates)  # distinct different-identity pairs
    if available == 0:
        raise InputError("validation needs at least 2 identities to form negative pairs: hold out a larger share "
                         "of the identities for validation, or give more")
    n_neg = min(n_pairs - n_pos, available)
    neg: set[tuple[int, int]] = set()
    if available <= 4 * n_neg:  # a small set: draw from all of them (sampling would take ever longer, or forever)
        every = [(a, b) for a in range(n) for b in range(a + 1, n) if dataset.labels[a] != dataset.labels[b]]
        neg = {every[i] for i in rng.choice(len(every), n_neg, replace=False)}
    while len(neg) < n_neg:
        a, b = (int(v) for v in rng.integers(0, n, 2))
        if dataset.labels[a] != dataset.labels[b]:
            neg.add((min(a, b), max(a, b)))
    pairs = [Pair(dataset.paths[a], dataset.paths[b], True, 0) for a, b in pos]
    pairs += [Pair(dataset.paths[a], dataset.paths[b], False, 0) for a, b in sorted(neg)]
    order = rng.permutation(len(pairs))
    return [Pair(pairs[j].path1, pairs[j].path2, pairs[j].same, i % n_folds) for i, j in enumerate(order)]


class Validator:
    """Embeds a fixed pair set with the current weights and reports the LFW-style metrics."""

    def __init__(self, pairset: PairSet, pre: Preprocessing, far: float, cache_dir: Path | None,
                 progress: bool = False, name: str = "") -> None:
        self.pairset = pairset
        self.far = far
        self.name = name
        self.images = DecodedImages(pairset.paths, pre.load, pre.stored_size, pre.to_dict(), cache_dir,
                                    progress=progress)
        if self.images.bad:
            bad = [f"{pairset.paths[i]} ({self.images.bad_reasons.get(i, '')})" for i in self.images.bad[:5]]
            raise InputError("validation images could not be read: " + "; ".join(bad))

    @classmethod
    def from_lfw(cls, pairs_file: str | Path, lfw_dir: str | Path, pre: Preprocessing, far: float,
                 cache_dir: Path | None, progress: bool = False) -> Validator:
        pairs = read_lfw_pairs(pairs_file, lfw_dir)
        n_folds = 10 if len({p.fold for p in pairs}) == 1 else None
        return cls(PairSet.from_pairs(pairs, n_folds), pre, far, cache_dir, progress, Path(pairs_file).name)

    def __call__(self, model: FaceEmbedder) -> VerificationReport:
        emb = model.embed(self.images.array, batch_size=256)
        ps = self.pairset
        d = model.distance.paired(torch.from_numpy(emb[ps.left]), torch.from_numpy(emb[ps.right])).numpy()
        return evaluate_verification(d, ps.same, ps.folds, self.far)
