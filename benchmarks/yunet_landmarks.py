"""Five points for YuNet's boxes, measured against MTCNN's: every alignment faceprint has (the five-point templates,
dlib's chip map, the models calibrated on them) was made for MTCNN's points, and YuNet's own differ (its eye points
sit elsewhere on the eye, its mouth corners elsewhere on the lips: a median 16% of the inter-ocular distance on LFW).

Both detectors run on the CelebA subset (the fit) and on LFW photos (held out: no LFW photo is fitted on). On photos
where the face each takes (`--select central`) is the same face (IoU >= 0.5), this script fits
- the linear map from YuNet's 10 coordinates to MTCNN's (ridge regression, in the frame where YuNet's points best
  match their mean shape, as benchmarks/dlib_chip_template.py fits MTCNN's points to dlib's): `--landmarks mapped`;
- the rule that places O-Net's square from YuNet's box (least squares: the centre's shift and the side, each linear
  in the box's width and height) so that O-Net sees the square R-Net gave it inside MTCNN: `--landmarks onet`;
and reports, for each way of getting the points, the farthest of the five from MTCNN's in % of MTCNN's inter-ocular
distance (CelebA held out 2-fold; LFW held out entirely), with each network's cost per face. --write stores both
fits in src/faceprint/detection/weights/yunet_landmarks.json.

    python benchmarks/yunet_landmarks.py [--celeba 3000] [--lfw 2000] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "src" / "faceprint" / "detection" / "weights" / "yunet_landmarks.json"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def sample(folder: Path, limit: int) -> list[Path]:
    files = sorted(folder.glob("*/*.jpg"))
    return [files[i] for i in np.unique(np.linspace(0, len(files) - 1, min(limit, len(files))).astype(int))]


def collect(files: list[Path], desc: str) -> dict[str, np.ndarray]:
    """Per photo where both take the same central face: YuNet's box and own points, MTCNN's O-Net input square and
    final points (all in image pixels), and the photo's index."""
    from faceprint.data.images import read_image
    from faceprint.detection import select_faces
    from faceprint.detection.mtcnn import MTCNN
    from faceprint.detection.yunet import YuNet

    class Recording(MTCNN):
        """MTCNN that remembers the squares O-Net was given, to find the one behind each final face."""

        def _run(self, net, images, sums, boxes, size):  # type: ignore[no-untyped-def]
            outs = super()._run(net, images, sums, boxes, size)
            if size == 48:
                self.onet_in = [(b, mk) for b, mk in zip(boxes, outs[2])]
            return outs

    mtcnn, yunet = Recording(), YuNet(landmarks="own")
    rows: dict[str, list] = {"box": [], "own": [], "square": [], "mtcnn": [], "photo": []}
    for s in tqdm(range(0, len(files), 32), desc=desc):
        images = [read_image(f) for f in files[s : s + 32]]
        found_m = mtcnn.detect(images)
        found_y = yunet.detect(images)
        for j, (im, a, b) in enumerate(zip(images, found_m, found_y)):
            ca, cb = select_faces(a, im.shape, "central"), select_faces(b, im.shape, "central")
            if not (ca and cb and _iou(ca[0].box, cb[0].box) >= 0.5):
                continue
            squares, marks = mtcnn.onet_in[j]
            wh = squares[:, 2:] - squares[:, :2]
            pts = np.stack([squares[:, None, 0] + marks[:, :5] * wh[:, None, 0],
                            squares[:, None, 1] + marks[:, 5:] * wh[:, None, 1]], 2)
            k = int(np.argmin(np.abs(pts - ca[0].landmarks).reshape(len(pts), -1).max(1)))
            rows["box"].append(cb[0].box)
            rows["own"].append(cb[0].landmarks)
            rows["square"].append(squares[k])
            rows["mtcnn"].append(ca[0].landmarks)
            rows["photo"].append(s + j)
    return {k: np.array(v, np.float64) for k, v in rows.items()}


def fit_map(ours: np.ndarray, ref: np.ndarray, ridge: float = 1e-2) -> dict:
    from faceprint.detection.alignment import similarity_transform

    template = ours.mean(0)
    frames = [similarity_transform(o, template) for o in ours]
    xs = np.array([(o @ t[:, :2].T + t[:, 2]).ravel() for o, t in zip(ours, frames)])
    ys = np.array([(r @ t[:, :2].T + t[:, 2]).ravel() for r, t in zip(ref, frames)])
    x1 = np.hstack([xs - template.ravel(), np.ones((len(xs), 1))])
    w = np.linalg.solve(x1.T @ x1 + ridge * np.diag([1.0] * 10 + [0.0]), x1.T @ ys)
    return {"yunet_template": template.tolist(), "regression": w.tolist()}


def fit_box_rule(boxes: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """The six numbers of detection.landmarks.square_from_box, by least squares on O-Net's squares."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    a = np.stack([w, h], 1)
    dx = (squares[:, 0] + squares[:, 2]) / 2 - (boxes[:, 0] + boxes[:, 2]) / 2
    dy = (squares[:, 1] + squares[:, 3]) / 2 - (boxes[:, 1] + boxes[:, 3]) / 2
    side = squares[:, 2] - squares[:, 0]
    return np.concatenate([np.linalg.lstsq(a, t, rcond=None)[0] for t in (dx, dy, side)])


def error(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The farthest of the five points from MTCNN's, in % of MTCNN's inter-ocular distance, per face."""
    eyes = np.linalg.norm(ref[:, 0] - ref[:, 1], axis=1)
    return 100 * np.linalg.norm(pred - ref, axis=2).max(1) / eyes


def variants(d: dict[str, np.ndarray], files: list[Path], point_map: dict, rule: np.ndarray
             ) -> dict[str, tuple[np.ndarray, float]]:
    """Each way of getting the points for the faces of `d`: (points, ms per face of the landmark step)."""
    from faceprint.data.images import read_image
    from faceprint.detection.alignment import regress_points
    from faceprint.detection.landmarks import IntelPoints, ONetPoints

    tpl, reg = np.asarray(point_map["yunet_template"]), np.asarray(point_map["regression"])
    t = time.perf_counter()
    mapped = np.array([regress_points(o, tpl, reg) for o in d["own"]])
    out = {"YuNet's own": (d["own"], 0.0), "YuNet's mapped onto MTCNN's": (mapped, (time.perf_counter() - t) * 1e3 / len(mapped))}
    images = [read_image(files[int(i)]) for i in d["photo"]]
    for name, net in (("O-Net on YuNet's box (fitted square)", ONetPoints(rule, threads=1)),
                      ("Intel landmarks-0009 on YuNet's box x 1.15", IntelPoints(threads=1))):
        pts, spent = [], 0.0
        for s in range(0, len(images), 32):  # as the detector runs it: a batch of photos, their faces at once
            t = time.perf_counter()
            pts += net.points(images[s : s + 32], [b[None] for b in d["box"][s : s + 32]])
            spent += time.perf_counter() - t
        out[name] = (np.concatenate(pts), spent * 1e3 / len(images))
    o, i = out["O-Net on YuNet's box (fitted square)"][0], out["Intel landmarks-0009 on YuNet's box x 1.15"][0]
    out["mean of O-Net's and Intel's"] = ((o + i) / 2, np.nan)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--celeba", type=int, default=3000, help="CelebA-subset photos to fit on")
    ap.add_argument("--lfw", type=int, default=2000, help="LFW photos to test on (none fitted on)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from faceprint.detection.alignment import regress_points
    from faceprint.utils.runtime import set_threads

    set_threads(1)
    cfiles = sample(SHARED / "celeba-subset" / "images", args.celeba)
    lfiles = sample(SHARED / "lfw" / "lfw-deepfunneled", args.lfw)
    cel, lfw = collect(cfiles, "CelebA photos"), collect(lfiles, "LFW photos")
    point_map, rule = fit_map(cel["own"], cel["mtcnn"]), fit_box_rule(cel["box"], cel["square"])
    print(f"O-Net's square from YuNet's box (w, h: its width and height): centre + ({rule[0]:.4f} w + {rule[1]:.4f} h, "
          f"{rule[2]:.4f} w + {rule[3]:.4f} h), side {rule[4]:.4f} w + {rule[5]:.4f} h")
    # CelebA held out 2-fold for the two fitted rules
    half = np.arange(len(cel["own"])) % 2 == 0
    cel_mapped, cel_rules = np.zeros_like(cel["own"]), {}
    for train in (half, ~half):
        p = fit_map(cel["own"][train], cel["mtcnn"][train])
        cel_mapped[~train] = [regress_points(o, np.asarray(p["yunet_template"]), np.asarray(p["regression"]))
                              for o in cel["own"][~train]]
        cel_rules[bool(train[0])] = fit_box_rule(cel["box"][train], cel["square"][train])
    print(f"\nFarthest of the five points from MTCNN's, % of the inter-ocular distance (CelebA: {len(cel['own'])} "
          f"faces, fits held out 2-fold; LFW: {len(lfw['own'])} faces, nothing fitted on LFW); ms a face, one thread:")
    print("| points | CelebA median | CelebA 90th | LFW median | LFW 90th | LFW 99th | ms / face |")
    print("|---|---|---|---|---|---|---|")
    on_lfw = variants(lfw, lfiles, point_map, rule)
    on_cel = {}
    for flag, rule_k in cel_rules.items():  # each half measured with the rule fitted on the other
        part = {k: v[~half] if flag else v[half] for k, v in cel.items()}
        for name, (pts, _) in variants(part, cfiles, point_map, rule_k).items():
            on_cel.setdefault(name, []).append((pts, part["mtcnn"]))
    for name, (pts, ms) in on_lfw.items():
        if name == "YuNet's mapped onto MTCNN's":
            ce = error(cel_mapped, cel["mtcnn"])
        else:
            ce = np.concatenate([error(p, r) for p, r in on_cel[name]])
        le = error(pts, lfw["mtcnn"])
        print(f"| {name} | {np.median(ce):.1f}% | {np.percentile(ce, 90):.1f}% | {np.median(le):.1f}% | "
              f"{np.percentile(le, 90):.1f}% | {np.percentile(le, 99):.1f}% | {'-' if np.isnan(ms) else f'{ms:.3f}'} |")
    if args.write:
        OUT.write_text(json.dumps({**point_map, "onet_box_rule": rule.tolist(), "faces": len(cel["own"]),
                                   "source": "CelebA subset, benchmarks/yunet_landmarks.py"}, indent=1))
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
