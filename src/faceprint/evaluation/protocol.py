"""Running a pairs protocol with a model: embed each image once, compute distances, report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.data import Pair, check_pairs_exist
from faceprint.errors import InputError
from faceprint.evaluation.verification import VerificationReport, evaluate_verification
from faceprint.models.interface import Embedder
from faceprint.pipeline import Pipeline


@dataclass
class PairsResult:
    report: VerificationReport
    dist: np.ndarray
    same: np.ndarray
    folds: np.ndarray
    centre_crop_fallbacks: list[str]  # photos mode: images without a detected face, embedded from a centre crop


def evaluate_pairs(
    model: Embedder,
    pairs: list[Pair],
    flip: str | None = None,
    mean_subtraction: bool = False,
    far: float = 1e-3,
    cache_dir: Path | None = None,
    progress: bool = True,
    protocol: str = "pairs",
    input: str = "crops",
    select: str = "best",
    source: str | Path | None = None,
    detector: str | None = None,
) -> PairsResult:
    """Verification metrics of `model` on `pairs` (thresholds cross-validated over the pairs' folds).

    Every image must exist and decode: a benchmark that skips pairs is not the benchmark. With input="photos"
    faces are detected and aligned (`select` picks the face of a photo with several: "central" for LFW, whose
    subject is the centred face by construction); an image where no face is found falls back to its centre crop
    (as the FaceNet paper did for LFW) and is listed in the result. input="auto" looks at the
    `source` folder (see `pipeline.resolve_input`).
    mean_subtraction: for each fold, the mean embedding of the other folds' images is subtracted and the
    embeddings renormalised before distances are taken (an option of the common reference code).
    """
    check_pairs_exist(pairs, protocol)
    paths = sorted({p for pair in pairs for p in (pair.path1, pair.path2)})
    pipe = Pipeline(model, input=input, select=select, flip=flip, cache_dir=cache_dir, progress=progress,
                    no_face="centre_crop", detector=detector)
    es = pipe.embed(paths, source=source)
    if es.skipped:
        raise InputError(f"{protocol}: {len(es.skipped)} image(s) could not be read: " + "; ".join(es.skipped[:5]))
    fallbacks = [str(p) for p in es.fallbacks]
    index = {Path(p): i for i, p in enumerate(es.paths)}
    left = np.array([index[p.path1] for p in pairs])
    right = np.array([index[p.path2] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    emb = es.embeddings

    def distances(e: np.ndarray) -> np.ndarray:
        return pipe.distances(e[left], e[right])

    dist = distances(emb)
    fold_dist = None
    if mean_subtraction:
        fold_dist = {}
        for f in np.unique(folds):
            others = folds != f if len(np.unique(folds)) > 1 else np.ones_like(folds, bool)
            used = np.unique(np.concatenate([left[others], right[others]]))
            e = emb - emb[used].mean(0)
            fold_dist[int(f)] = distances(e / np.linalg.norm(e, axis=1, keepdims=True))
    rep = evaluate_verification(dist, same, folds, far, fold_dist)
    return PairsResult(rep, dist, same, folds, fallbacks)
