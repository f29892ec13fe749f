"""Detection proof and speed: does MTCNN find the face of every LFW / CelebA-subset image where it should be, and how
fast are detection + alignment on this machine?

    python benchmarks/detection.py [--limit N]     # all images by default (LFW 13,233; CelebA subset 6,277)

Central region: a box centre within 15% of the image side from the image centre (both datasets were cut with the
face centred: LFW from a 2.2x Viola-Jones box, the CelebA subset from a 2.2x MTCNN box). Reported for any face the
detector finds (the face is there and found) and for the face `--select best` (score x area) would take.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_DET = {}


def _init() -> None:
    import torch

    from faceprint.detection import MTCNN

    torch.set_num_threads(1)
    _DET["d"] = MTCNN()


def _check(paths: list[str]) -> list[tuple[str, int, float, float]]:
    """(path, faces found, offset of the best face's centre, smallest offset of any face's centre), offsets from
    the image centre as a fraction of the side."""
    from faceprint.data import read_image
    from faceprint.detection import select_faces

    images = [read_image(p) for p in paths]
    out = []
    by_shape: dict = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    found = [None] * len(images)
    for idx in by_shape.values():
        for i, faces in zip(idx, _DET["d"].detect([images[i] for i in idx])):
            found[i] = faces
    for p, im, faces in zip(paths, images, found):
        if not faces:
            out.append((p, 0, float("inf"), float("inf")))
            continue
        h, w = im.shape[:2]

        def offset(f) -> float:  # type: ignore[no-untyped-def]
            c = (f.box[:2] + f.box[2:]) / 2
            return float(np.max(np.abs(c - [w / 2, h / 2]) / [w, h]))

        best = select_faces(faces, im.shape, "best")[0]
        out.append((p, len(faces), offset(best), min(offset(f) for f in faces)))
    return out


def central_fraction(root: Path, limit: int | None, workers: int = 2) -> dict:
    files = sorted(str(p) for p in root.rglob("*.jpg"))
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    chunks = [files[i : i + 16] for i in range(0, len(files), 16)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init) as pool:
        res = [r for rs in pool.map(_check, chunks) for r in rs]
    dt = time.perf_counter() - t0
    best = np.array([r[2] for r in res])
    any_ = np.array([r[3] for r in res])
    return {"images": len(res), "no_face": int(np.isinf(best).sum()), "any_15": float((any_ <= 0.15).mean()),
            "best_15": float((best <= 0.15).mean()), "best_10": float((best <= 0.10).mean()),
            "several": int(sum(r[1] > 1 for r in res)), "img_s": len(res) / dt,
            "misses": [r[0] for r in res if r[3] > 0.15][:10],
            "best_not_central": [r[0] for r in res if r[2] > 0.15 >= r[3]][:10]}


def speed(images: list[np.ndarray], threads: int, repeats: int = 3) -> float:
    import torch

    from faceprint.detection import MTCNN, align_face, select_faces

    torch.set_num_threads(threads)
    det = MTCNN()
    det.detect(images[:1])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for im in images:  # one image at a time: what a user's photo stream looks like
            for f in select_faces(det.detect([im])[0], im.shape, "all"):
                align_face(im, f, "five_point", 112)
        times.append(time.perf_counter() - t0)
    return len(images) / float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, help="images per dataset (default: all)")
    args = ap.parse_args()
    from PIL import Image

    from faceprint.data import read_image

    print(f"Machine: {machine()}\n")
    print("| dataset | images | no face | a face centred (15% of side) | best face centred (15% / 10%) "
          "| several faces | img/s (2 processes) |")
    print("|---|---|---|---|---|---|---|")
    results = {}
    for name, root in [("LFW (deep-funneled, 250 px)", SHARED / "lfw" / "lfw-deepfunneled"),
                       ("CelebA subset (200 px)", SHARED / "celeba-subset" / "images")]:
        if not root.exists():
            print(f"| {name} | not here | | | | | |")
            continue
        r = central_fraction(root, args.limit, workers=min(2, os.cpu_count() or 1))
        results[name] = r
        print(f"| {name} | {r['images']} | {r['no_face']} | {100 * r['any_15']:.2f}% | {100 * r['best_15']:.2f}% / "
              f"{100 * r['best_10']:.2f}% | {r['several']} | {r['img_s']:.1f} |", flush=True)
    for name, r in results.items():
        if r["misses"]:
            print(f"\n{name}, images without a centred face: " + ", ".join(Path(p).name for p in r["misses"]))
        if r["best_not_central"]:
            print(f"{name}, a centred face found but another one is 'best': "
                  + ", ".join(Path(p).name for p in r["best_not_central"]))
    lfw = SHARED / "lfw" / "lfw-deepfunneled"
    if lfw.exists():
        small = [read_image(p) for p in sorted(lfw.rglob("*.jpg"))[:20]]
        tiles = [np.concatenate(small[r * 4 : r * 4 + 4], 1) for r in range(3)]
        group = np.asarray(Image.fromarray(np.concatenate(tiles, 0)).resize((1280, 960)))
        print("\nDetection + five-point alignment, one image at a time, one process:")
        print("| image | 1 thread img/s | 2 threads img/s |")
        print("|---|---|---|")
        for label, imgs in [("250 x 250 LFW photo", small), ("1280 x 960 photo, 12 faces", [group] * 3)]:
            print(f"| {label} | {speed(imgs, 1):.1f} | {speed(imgs, 2):.1f} |", flush=True)


if __name__ == "__main__":
    main()
