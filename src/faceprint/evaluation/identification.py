"""Identification on a folder-per-identity set: a gallery/probe split, closed-set ranks, open-set rates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from faceprint.applications.recognition import ExactIndex
from faceprint.evaluation.verification import far_threshold


@dataclass
class IdentificationReport:
    gallery_per_identity: int
    n_gallery_identities: int
    n_gallery_faces: int
    n_genuine_probes: int
    n_impostor_probes: int
    rank1: float
    rank5: float
    # open set: detection-and-identification rate (right identity, under the threshold) at a false alarm rate
    dir_at_far: dict[str, float] = field(default_factory=dict)
    threshold_at_far: dict[str, float] = field(default_factory=dict)
    model_threshold: float | None = None
    dir_at_model_threshold: float | None = None
    far_at_model_threshold: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        s = (f"rank-1 {100 * self.rank1:.2f}%  rank-5 {100 * self.rank5:.2f}%  "
             f"[{self.n_gallery_identities} identities x {self.gallery_per_identity} in the gallery, "
             f"{self.n_genuine_probes} genuine / {self.n_impostor_probes} impostor probes]")
        for k, v in self.dir_at_far.items():
            s += f"\n  open set: DIR {100 * v:.2f}% at FAR {k} (threshold {self.threshold_at_far[k]:.4f})"
        if self.model_threshold is not None:
            s += (f"\n  at the model's threshold {self.model_threshold:.4f}: DIR {100 * self.dir_at_model_threshold:.2f}%"
                  f", FAR {100 * self.far_at_model_threshold:.2f}% (strangers taken for someone)")
        return s


def split_gallery(labels: np.ndarray, gallery_per_identity: int, impostor_fraction: float, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gallery, genuine probes, impostor probes) as index arrays.

    Identities with more than `gallery_per_identity` images give that many to the gallery and the rest as probes;
    a `impostor_fraction` of identities is kept out of the gallery entirely and all their images are impostors.
    """
    rng = np.random.default_rng(seed)
    ids = np.unique(labels)
    usable = [i for i in ids if (labels == i).sum() > gallery_per_identity]
    if not usable:
        raise ValueError(f"no identity has more than {gallery_per_identity} images: nothing to probe with")
    n_imp = int(round(impostor_fraction * len(ids)))
    impostors = set(rng.choice(ids, n_imp, replace=False).tolist()) if n_imp else set()
    gallery, genuine, impostor = [], [], []
    for i in ids:
        members = rng.permutation(np.flatnonzero(labels == i))
        if i in impostors:
            impostor.extend(members)
        else:
            gallery.extend(members[:gallery_per_identity])
            genuine.extend(members[gallery_per_identity:])
    return np.array(gallery), np.array(genuine, dtype=np.int64), np.array(impostor, dtype=np.int64)


def identification_report(
    emb: np.ndarray,
    labels: np.ndarray,
    gallery_per_identity: int = 1,
    impostor_fraction: float = 0.2,
    distance: str = "squared_l2",
    far_targets: tuple[float, ...] = (0.01, 0.1),
    model_threshold: float | None = None,
    seed: int = 0,
) -> IdentificationReport:
    gallery, genuine, impostor = split_gallery(labels, gallery_per_identity, impostor_fraction, seed)
    g_labels = labels[gallery]
    g_ids = np.unique(g_labels)
    index = ExactIndex(emb[gallery], distance)

    def ranked(probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per probe: identities ordered by their nearest gallery face, and those distances."""
        d, n = index.search(emb[probes], len(gallery))
        ids = np.full((len(probes), len(g_ids)), -1)
        dists = np.full((len(probes), len(g_ids)), np.inf)
        for r in range(len(probes)):
            _, first = np.unique(g_labels[n[r]], return_index=True)
            order = np.sort(first)
            ids[r, : len(order)] = g_labels[n[r][order]]
            dists[r, : len(order)] = d[r][order]
        return ids, dists

    gen_ids, gen_d = ranked(genuine)
    hit = gen_ids == labels[genuine][:, None]
    rank1 = float(hit[:, 0].mean()) if len(genuine) else float("nan")
    rank5 = float(hit[:, :5].any(1).mean()) if len(genuine) else float("nan")
    rep = IdentificationReport(gallery_per_identity, len(g_ids), len(gallery), len(genuine), len(impostor),
                               rank1, rank5)
    if len(impostor):
        _, imp_d = ranked(impostor)
        for far in far_targets:
            t = far_threshold(imp_d[:, 0], far)
            rep.threshold_at_far[f"{far:g}"] = t
            rep.dir_at_far[f"{far:g}"] = float((hit[:, 0] & (gen_d[:, 0] < t)).mean())
        if model_threshold is not None:
            rep.model_threshold = model_threshold
            rep.dir_at_model_threshold = float((hit[:, 0] & (gen_d[:, 0] < model_threshold)).mean())
            rep.far_at_model_threshold = float((imp_d[:, 0] < model_threshold).mean())
    return rep


@dataclass
class OpenSetCalibration:
    """An open-set threshold and what it gave on the identities it was fitted on."""

    threshold: float
    far_target: float
    far: float  # strangers taken for someone, on the pooled stranger probes
    dir: float  # genuine probes identified right and under the threshold
    n_gallery_identities: int  # per repeat
    n_genuine_probes: int  # pooled over repeats
    n_impostor_probes: int
    repeats: int

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"open-set threshold {self.threshold:.4f}: FAR {100 * self.far:.2f}% (target {self.far_target:g}), "
                f"DIR {100 * self.dir:.2f}%  [{self.n_gallery_identities} gallery identities, "
                f"{self.n_impostor_probes} stranger / {self.n_genuine_probes} genuine probes over {self.repeats} splits]")


def calibrate_open_set(
    emb: np.ndarray,
    labels: np.ndarray,
    far: float = 0.01,
    distance: str = "squared_l2",
    gallery_per_identity: int = 1,
    impostor_fraction: float = 0.2,
    repeats: int = 10,
    seed: int = 0,
) -> OpenSetCalibration:
    """The largest threshold on nearest-gallery distance at which at most `far` of strangers match anyone.

    Strangers are whole identities left out of the gallery; the split is redrawn `repeats` times and the
    nearest-face distances pooled, so the threshold does not hinge on which few identities were strangers once.
    The gallery size matters: a threshold fitted with a large gallery is conservative for a smaller one.
    """
    if not 0 < impostor_fraction < 1:
        raise ValueError(f"impostor_fraction must be in (0, 1), got {impostor_fraction}")
    gen_d, gen_hit, imp_d, n_ids = [], [], [], 0
    for r in range(repeats):
        gallery, genuine, impostor = split_gallery(labels, gallery_per_identity, impostor_fraction, seed + r)
        if not len(impostor):
            raise ValueError("too few identities to hold any out as strangers")
        index = ExactIndex(emb[gallery], distance)
        d, n = index.search(emb[impostor], 1)
        imp_d.append(d[:, 0])
        if len(genuine):
            d, n = index.search(emb[genuine], 1)
            gen_d.append(d[:, 0])
            gen_hit.append(labels[gallery][n[:, 0]] == labels[genuine])
        n_ids = len(np.unique(labels[gallery]))
    imp = np.concatenate(imp_d)
    t = far_threshold(imp, far)
    gd = np.concatenate(gen_d) if gen_d else np.zeros(0)
    gh = np.concatenate(gen_hit) if gen_hit else np.zeros(0, dtype=bool)
    return OpenSetCalibration(
        threshold=float(t), far_target=far, far=float((imp < t).mean()),
        dir=float((gh & (gd < t)).mean()) if len(gd) else float("nan"),
        n_gallery_identities=n_ids, n_genuine_probes=len(gd), n_impostor_probes=len(imp), repeats=repeats)
