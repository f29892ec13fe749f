"""Fit YuNet's five points to MTCNN's: every alignment faceprint has (the five-point templates, dlib's chip map,
the models calibrated on them) was made for MTCNN's points, and YuNet's differ systematically (its eye points sit
elsewhere on the eye, its mouth corners elsewhere on the lips: a median 16% of the inter-ocular distance on LFW).

Both detectors run on the CelebA subset (no LFW image is used); on photos where the face each would take
(`--select central`) is the same face (IoU >= 0.5), a linear map from YuNet's 10 coordinates to MTCNN's is fitted
(ridge regression) in the frame where YuNet's points best match their mean shape, as benchmarks/dlib_chip_template.py
fits MTCNN's points to dlib's. Reported on faces held out of the fit (2-fold): the farthest of the five points from
MTCNN's, in % of MTCNN's inter-ocular distance, before and after the map. --write stores the fit in
src/faceprint/detection/weights/yunet_landmarks.json, which YuNet applies to every face it returns.

    python benchmarks/yunet_landmarks.py [--limit 3000] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "celeba-subset" / "images"
OUT = ROOT / "src" / "faceprint" / "detection" / "weights" / "yunet_landmarks.json"


def collect(limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(YuNet's raw 5 points, MTCNN's 5 points) of the same central face, in image pixels."""
    from faceprint.data.images import read_image
    from faceprint.detection import select_faces
    from faceprint.detection.mtcnn import MTCNN
    from faceprint.detection.yunet import YuNet

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from detection import _iou

    files = sorted(DATA.glob("*/*.jpg"))
    files = [files[i] for i in np.linspace(0, len(files) - 1, min(limit, len(files))).astype(int)]
    mtcnn, yunet = MTCNN(), YuNet(map_landmarks=False)
    ours, ref = [], []
    for s in tqdm(range(0, len(files), 32), desc="photos (x32)"):
        images = [read_image(f) for f in files[s : s + 32]]
        for im, a, b in zip(images, mtcnn.detect(images), yunet.detect(images)):
            ca, cb = select_faces(a, im.shape, "central"), select_faces(b, im.shape, "central")
            if ca and cb and _iou(ca[0].box, cb[0].box) >= 0.5:
                ref.append(ca[0].landmarks)
                ours.append(cb[0].landmarks)
    return np.array(ours, np.float64), np.array(ref, np.float64)


def fit(ours: np.ndarray, ref: np.ndarray, ridge: float = 1e-2) -> dict:
    from faceprint.detection.alignment import similarity_transform

    template = ours.mean(0)
    frames = [similarity_transform(o, template) for o in ours]
    xs = np.array([(o @ t[:, :2].T + t[:, 2]).ravel() for o, t in zip(ours, frames)])
    ys = np.array([(r @ t[:, :2].T + t[:, 2]).ravel() for r, t in zip(ref, frames)])
    x1 = np.hstack([xs - template.ravel(), np.ones((len(xs), 1))])
    w = np.linalg.solve(x1.T @ x1 + ridge * np.diag([1.0] * 10 + [0.0]), x1.T @ ys)
    return {"yunet_template": template.tolist(), "regression": w.tolist()}


def error(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The farthest of the five points from MTCNN's, in % of MTCNN's inter-ocular distance, per face."""
    eyes = np.linalg.norm(ref[:, 0] - ref[:, 1], axis=1)
    return 100 * np.linalg.norm(pred - ref, axis=2).max(1) / eyes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=3000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    from faceprint.detection.alignment import regress_points

    ours, ref = collect(args.limit)
    half = np.arange(len(ours)) % 2 == 0
    mapped = np.zeros_like(ours)
    for train in (half, ~half):
        p = fit(ours[train], ref[train])
        mapped[~train] = [regress_points(o, np.asarray(p["yunet_template"]), np.asarray(p["regression"]))
                          for o in ours[~train]]
    raw, after = error(ours, ref), error(mapped, ref)
    print(f"{len(ours)} CelebA-subset faces found by both; YuNet's points from MTCNN's (held out, 2-fold), farthest "
          f"point in % of the inter-ocular distance:")
    print("| points | median | 90th pct | 99th pct |\n|---|---|---|---|")
    for name, e in (("YuNet's own", raw), ("YuNet's mapped to MTCNN's", after)):
        print(f"| {name} | {np.median(e):.1f}% | {np.percentile(e, 90):.1f}% | {np.percentile(e, 99):.1f}% |")
    if args.write:
        OUT.write_text(json.dumps({**fit(ours, ref), "faces": len(ours), "source": "CelebA subset, "
                                   "benchmarks/yunet_landmarks.py"}, indent=1))
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
