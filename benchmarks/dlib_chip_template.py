"""Fit the "dlib_chip" alignment: dlib's 150 x 150 face chip from MTCNN's five landmarks.

dlib's network was trained on chips that `dlib.get_face_chip(img, shape, 150, 0.25)` cuts with a similarity
transform of its own 5 landmarks (eye corners, base of the nose) onto a template. faceprint detects with MTCNN,
whose points are eye centres, nose tip and mouth corners, and which move differently with pose and expression.
This script runs both on the same photos (the CelebA subset: no LFW image is used) and fits, in the frame where
MTCNN's points best match their mean chip position, a linear map from MTCNN's 10 coordinates to dlib's 10 (ridge
regression); at run time the predicted dlib points then go through dlib's own chip rule. It reports, on faces
held out of the fit (2-fold), how far each way of cutting the chip lands from dlib's own chip (mean over a 15 x 15
grid of chip pixels), and with --write stores the fit in src/faceprint/detection/weights/dlib_chip.json.

    python benchmarks/dlib_chip_template.py [--limit 1500] [--write]
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
OUT = ROOT / "src" / "faceprint" / "detection" / "weights" / "dlib_chip.json"
GRID = np.stack(np.meshgrid(np.linspace(0, 149, 15), np.linspace(0, 149, 15)), -1).reshape(-1, 2)


def chip_mapping(details) -> np.ndarray:  # type: ignore[no-untyped-def]
    """2 x 3 affine taking image points into a dlib chip (dlib's get_mapping_to_chip)."""
    r, a = details.rect, details.angle
    cx, cy = (r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2
    c, s = np.cos(a), np.sin(a)

    def rot(x: float, y: float) -> list[float]:
        dx, dy = x - cx, y - cy
        return [cx + c * dx - s * dy, cy + s * dx + c * dy]

    src = np.array([rot(r.left(), r.top()), rot(r.right(), r.top()), rot(r.right(), r.bottom())])
    dst = np.array([[0, 0], [details.cols - 1, 0], [details.cols - 1, details.rows - 1]], float)
    return np.linalg.solve(np.hstack([src, np.ones((3, 1))]), dst).T


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def collect(limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(dlib's 5 points, MTCNN's 5 points), both in dlib's chip coordinates, for photos where each finds one face."""
    import dlib

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peers import _models_dir

    from faceprint.data.images import read_image
    from faceprint.detection.mtcnn import MTCNN

    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(_models_dir() / "shape_predictor_5_face_landmarks.dat"))
    mtcnn = MTCNN()
    files = sorted(DATA.glob("*/*.jpg"))
    files = [files[i] for i in np.linspace(0, len(files) - 1, min(limit, len(files))).astype(int)]
    own, theirs = [], []
    for f in tqdm(files, desc="photos"):
        img = read_image(f)
        boxes = det(img, 1)
        faces = mtcnn.detect([img])[0]
        if len(boxes) != 1 or len(faces) != 1:
            continue  # only photos where both see exactly one face, so both describe the same person
        shape = sp(img, boxes[0])
        m = chip_mapping(dlib.get_face_chip_details(shape, 150, 0.25))
        own.append(apply(m, np.array([[p.x, p.y] for p in shape.parts()], float)))
        theirs.append(apply(m, faces[0].landmarks))
    return np.array(own), np.array(theirs)


def fit(own: np.ndarray, theirs: np.ndarray, ridge: float = 1e-2) -> dict:
    from faceprint.detection.alignment import similarity_transform

    template = theirs.mean(0)
    xs = np.array([apply(similarity_transform(t, template), t).ravel() for t in theirs])
    ys = np.array([apply(similarity_transform(t, template), o).ravel() for t, o in zip(theirs, own)])
    x1 = np.hstack([xs - template.ravel(), np.ones((len(xs), 1))])
    w = np.linalg.solve(x1.T @ x1 + ridge * np.diag([1.0] * 10 + [0.0]), x1.T @ ys)
    return {"mtcnn_template": template.tolist(), "regression": w.tolist(), "dlib_template": own.mean(0).tolist()}


def displacement(own: np.ndarray, theirs: np.ndarray, params: dict, method: str) -> np.ndarray:
    """Per face: mean distance (chip px) between where our chip and dlib's chip take the same image points."""
    from faceprint.detection.alignment import dlib_chip_transform, similarity_transform

    out = []
    for o, t in zip(own, theirs):
        if method == "regressed":
            m = dlib_chip_transform(t, params)
        else:
            pick = {"all five": [0, 1, 2, 3, 4], "eyes + nose": [0, 1, 2]}[method]
            m = similarity_transform(t[pick], np.array(params["mtcnn_template"])[pick])
        dlib_own = similarity_transform(o, np.array(params["dlib_template"]))  # dlib's chip, as its rule makes it
        out.append(np.linalg.norm(apply(m, GRID) - apply(dlib_own, GRID), axis=1).mean())
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=1500, help="photos of the CelebA subset to use")
    ap.add_argument("--write", action="store_true", help=f"store the fit on all faces in {OUT.relative_to(ROOT)}")
    args = ap.parse_args()
    own, theirs = collect(args.limit)
    print(f"{len(own)} faces seen by both detectors (of {args.limit} photos)")
    halves = np.arange(len(own)) % 2 == 0
    print("chip displacement vs dlib's own chip, faces held out of the fit (px): median, 90th percentile")
    for method in ("all five", "eyes + nose", "regressed"):
        errs = np.concatenate([displacement(own[~h], theirs[~h], fit(own[h], theirs[h]), method)
                               for h in (halves, ~halves)])
        print(f"  {method:<12} {np.median(errs):6.2f}  {np.percentile(errs, 90):6.2f}")
    if args.write:
        params = fit(own, theirs) | {"faces": len(own), "data": "celeba-subset (every photo where dlib's HOG detector "
                                     "and MTCNN each found one face)", "script": "benchmarks/dlib_chip_template.py"}
        OUT.write_text(json.dumps(params, indent=1) + "\n")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
