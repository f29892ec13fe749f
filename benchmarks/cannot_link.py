"""What "two faces of one photo are never in one cluster" does to clustering, on photos with several people.

LFW photos of the 125 unseen people (the model card's folder; or any folder-per-person of LFW names) are tiled into
2 x 2 mosaics of four different people, each photo used once. `faceprint cluster`'s path (detect every face, embed,
average linkage at the model's clustering cut) runs on the mosaics with and without the constraint. A face is labelled
with its tile's person when it is the face nearest the tile's centre, within its central half; other faces (LFW's
background people) are clustered but not scored. Pairwise precision / recall / F1 over the labelled faces.

    python benchmarks/cannot_link.py --people runs/data/unseen125_reid [--lfw ../shared/data/lfw/lfw-deepfunneled]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

import faceprint  # noqa: E402
from faceprint.applications.clustering import cluster  # noqa: E402
from faceprint.evaluation.clustering import clustering_report  # noqa: E402
from faceprint.thresholds import cluster_threshold  # noqa: E402


def mosaics(lfw: Path, people: list[str], out: Path, seed: int) -> dict[str, list[str]]:
    """Each mosaic's four tiles' people, in reading order; photos drawn without replacement, four people apart."""
    rng = np.random.default_rng(seed)
    pool = {p: sorted((lfw / p).glob("*.jpg")) for p in people}
    tiles: dict[str, list[str]] = {}
    i = 0
    while True:
        left = [p for p in pool if pool[p]]
        if len(left) < 4:
            break
        weights = np.array([len(pool[p]) for p in left], float)
        chosen = rng.choice(len(left), 4, replace=False, p=weights / weights.sum())
        canvas = Image.new("RGB", (500, 500))
        names = []
        for t, c in enumerate(chosen):
            p = left[c]
            photo = pool[p].pop(int(rng.integers(len(pool[p]))))
            canvas.paste(Image.open(photo).convert("RGB").resize((250, 250)), ((t % 2) * 250, (t // 2) * 250))
            names.append(p)
        path = out / f"mosaic_{i:04d}.jpg"
        canvas.save(path, quality=92)
        tiles[str(path)] = names
        i += 1
    return tiles


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", required=True, help="a folder whose sub-folders name the LFW people to use")
    ap.add_argument("--lfw", default=str(Path(__file__).resolve().parents[2] / "shared/data/lfw/lfw-deepfunneled"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--detector", default="mtcnn")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    people = sorted(d.name for d in Path(args.people).iterdir() if d.is_dir())
    model = faceprint.load(args.model)
    t, _ = cluster_threshold(model, None)
    with tempfile.TemporaryDirectory() as tmp:
        tiles = mosaics(Path(args.lfw), people, Path(tmp), args.seed)
        t0 = time.perf_counter()
        es = faceprint.embed(model, sorted(tiles), select="all", detector=args.detector)
        took = time.perf_counter() - t0
    nearest: dict[tuple[str, int], tuple[float, int]] = {}  # each tile's face closest to the tile's centre
    for i, (path, box) in enumerate(zip(es.paths, es.boxes)):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        tx, ty = min(1, int(cx // 250)), min(1, int(cy // 250))
        off = max(abs(cx - tx * 250 - 125), abs(cy - ty * 250 - 125))
        if off <= 62.5 and off < nearest.get((path, ty * 2 + tx), (np.inf, -1))[0]:
            nearest[(path, ty * 2 + tx)] = (off, i)
    truth: list[str | None] = [None] * len(es.paths)
    for (path, tile), (_, i) in nearest.items():
        truth[i] = tiles[path][tile]
    scored = np.array([s is not None for s in truth])
    ids = np.unique([s for s in truth if s is not None], return_inverse=True)[1]
    per_photo = np.bincount(np.unique(es.paths, return_inverse=True)[1])
    print(f"{machine()}\n{len(tiles)} mosaics of 4 people ({len(people)} people), {len(es.paths)} faces found "
          f"({scored.sum()} on a tile's person, {per_photo.mean():.2f} a photo), embedded in {took:.0f} s; "
          f"clustering cut {t:.4f}\n")
    print("| clustering | clusters | pairwise precision | recall | F1 | faces of one photo sharing a cluster |")
    print("|---|---|---|---|---|---|")
    for name, groups in (("average linkage, no constraint", None), ("average linkage, cannot-link", es.paths)):
        labels = cluster(es.embeddings, threshold=t, distance=model.distance, groups=groups).labels
        rep = clustering_report(ids, labels[scored])
        shared = sum(len(m) - len(set(labels[m])) for m in
                     (np.flatnonzero(np.array(es.paths) == p) for p in tiles))
        print(f"| {name} | {len(np.unique(labels))} | {rep.pairwise_precision:.4f} | {rep.pairwise_recall:.4f} | "
              f"{rep.pairwise_f1:.4f} | {shared} |")


if __name__ == "__main__":
    main()
