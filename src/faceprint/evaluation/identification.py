"""Identification on a folder-per-identity set: a gallery/probe split, closed-set ranks, open-set rates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from faceprint.distances import Distance, get_distance
from faceprint.errors import InputError
from faceprint.evaluation.verification import far_threshold
from faceprint.search import ExactIndex


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
        raise InputError(f"no identity has more than {gallery_per_identity} images: nothing to probe with")
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
    distance: str | Distance = "squared_l2",
    far_targets: tuple[float, ...] = (0.01, 0.1),
    model_threshold: float | None = None,
    seed: int = 0,
) -> IdentificationReport:
    gallery, genuine, impostor = split_gallery(labels, gallery_per_identity, impostor_fraction, seed)
    g_labels = labels[gallery]
    g_ids = np.unique(g_labels)
    index = ExactIndex(emb[gallery], distance)
    same = index.distance.same

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
            rep.dir_at_far[f"{far:g}"] = float((hit[:, 0] & same(gen_d[:, 0], t)).mean())
        if model_threshold is not None:
            rep.model_threshold = model_threshold
            rep.dir_at_model_threshold = float((hit[:, 0] & same(gen_d[:, 0], model_threshold)).mean())
            rep.far_at_model_threshold = float(same(imp_d[:, 0], model_threshold).mean())
    return rep


GALLERY_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
MAX_PROBES = 2000  # per kind and split: bounds the probe x gallery distance matrix on large folders


@dataclass
class OpenSetCalibration:
    """Open-set thresholds by gallery size, and what each gave on the identities it was fitted on."""

    far_target: float
    gallery_sizes: list[int]  # identities in the gallery
    thresholds: list[float]  # non-increasing in the gallery size
    far: list[float]  # strangers taken for someone, pooled over the splits and drawn galleries
    dir: list[float]  # genuine probes identified right and under the threshold
    n_impostor_probes: list[int]
    repeats: int

    def table(self) -> list[list[float]]:
        """[[gallery identities, threshold], ...]: what a model file stores."""
        return [[float(n), float(t)] for n, t in zip(self.gallery_sizes, self.thresholds)]

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"open-set thresholds for FAR {self.far_target:g} (strangers taken for someone), by gallery size "
                 f"[{self.repeats} splits]:", "  identities  threshold  FAR      DIR      stranger probes"]
        for n, t, f, d, k in zip(self.gallery_sizes, self.thresholds, self.far, self.dir, self.n_impostor_probes):
            lines.append(f"  {n:>10}  {t:9.4f}  {100 * f:6.2f}%  {100 * d:6.2f}%  {k}")
        return "\n".join(lines)


def calibrate_open_set(
    emb: np.ndarray,
    labels: np.ndarray,
    far: float = 0.01,
    distance: str | Distance = "squared_l2",
    gallery_per_identity: int = 1,
    impostor_fraction: float = 0.2,
    repeats: int = 10,
    seed: int = 0,
    draws: int = 20,
    probe_emb: np.ndarray | None = None,
) -> OpenSetCalibration:
    """For each gallery size N: the largest threshold on nearest-gallery distance at which at most `far` of strangers
    match anyone in a gallery of N identities.

    Strangers are whole identities left out of the gallery; the split is redrawn `repeats` times and, for N below
    the full gallery, `draws` galleries of N identities are drawn per split, the nearest-face distances pooled. The
    nearest of more strangers' faces is closer, so the threshold falls as N grows; it is made non-increasing (each
    size takes the smallest threshold of any size up to it), which only lowers a FAR. `probe_emb`: the same faces'
    embeddings as probes see them, where those were made otherwise than the gallery's (another detector: what
    mixing detectors costs); by default `emb`.
    """
    if not 0 < impostor_fraction < 1:
        raise InputError(f"impostor_fraction must be in (0, 1), got {impostor_fraction}")
    dist = get_distance(distance)
    probes = emb if probe_emb is None else probe_emb
    if probes.shape != emb.shape:
        raise InputError(f"probe embeddings {probes.shape} do not match the gallery's {emb.shape}")
    imp_near: dict[int, list[np.ndarray]] = {}
    gen_near: dict[int, list[np.ndarray]] = {}
    gen_hit: dict[int, list[np.ndarray]] = {}
    for r in range(repeats):
        gallery, genuine, impostor = split_gallery(labels, gallery_per_identity, impostor_fraction, seed + r)
        if not len(impostor):
            raise InputError("too few identities to hold any out as strangers")
        rng = np.random.default_rng([seed, r])
        impostor = impostor if len(impostor) <= MAX_PROBES else rng.choice(impostor, MAX_PROBES, replace=False)
        genuine = genuine if len(genuine) <= MAX_PROBES else rng.choice(genuine, MAX_PROBES, replace=False)
        g_lab = labels[gallery]
        ids = np.unique(g_lab)
        g_emb = np.ascontiguousarray(emb[gallery], dtype=np.float32)
        d_imp = dist.pairwise(np.ascontiguousarray(probes[impostor], dtype=np.float32), g_emb)
        d_gen = dist.pairwise(np.ascontiguousarray(probes[genuine], dtype=np.float32), g_emb)
        sizes = [n for n in GALLERY_SIZES if n < len(ids)] + [len(ids)]
        for n in sizes:
            for _ in range(1 if n == len(ids) else draws):
                cols = np.isin(g_lab, rng.choice(ids, n, replace=False)) if n < len(ids) else np.ones(len(g_lab), bool)
                imp_near.setdefault(n, []).append(d_imp[:, cols].min(1))
                rows = np.isin(labels[genuine], g_lab[cols])
                dg = d_gen[rows][:, cols]
                if dg.size:
                    gen_near.setdefault(n, []).append(dg.min(1))
                    gen_hit.setdefault(n, []).append(g_lab[cols][dg.argmin(1)] == labels[genuine][rows])
    out = OpenSetCalibration(far, [], [], [], [], [], repeats)
    t_prev = float("inf")
    for n in sorted(imp_near):
        imp = np.concatenate(imp_near[n])
        t = min(far_threshold(imp, far), t_prev)
        t_prev = t
        gd = np.concatenate(gen_near.get(n, [np.zeros(0)]))
        gh = np.concatenate(gen_hit.get(n, [np.zeros(0, dtype=bool)]))
        out.gallery_sizes.append(n)
        out.thresholds.append(float(t))
        out.far.append(float(dist.same(imp, t).mean()))
        out.dir.append(float((gh & dist.same(gd, t)).mean()) if len(gd) else float("nan"))
        out.n_impostor_probes.append(len(imp))
    return out
