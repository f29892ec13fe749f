"""End-to-end time for LFW on this machine: align all 13,233 images, embed them, run the View 2 protocol.

    python benchmarks/lfw_speed.py [--model M] [--workdir DIR] [--min-face PX] [--only all|command]

Two ways through LFW, timed apart (default model: the shipped one):
- all: every one of the 13,233 images aligned to files, then embedded, then the View 2 protocol.
- command: what `faceprint evaluate lfw --input photos` does: only the 7,701 images of the 6,000 pairs, detected,
  aligned and embedded in memory (no crops written), cold decode cache, then the protocol.

Alignment in "all" uses `faceprint align` (MTCNN, two processes, the model's own alignment with --select central; an image
without a detected face keeps its original centre crop, as in the FaceNet paper); embedding reads the
aligned crops through the decode cache (cold: the cache folder is new) and embeds with the model's own settings.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--workdir", help="where aligned images and the cache go (default: a temporary folder)")
    ap.add_argument("--min-face", type=float, default=20.0, help="MTCNN's smallest face in pixels (default 20)")
    ap.add_argument("--only", choices=["all", "command"], help="run one of the two measurements (default both)")
    args = ap.parse_args()
    import faceprint
    from faceprint.utils.runtime import set_threads, tune_malloc

    tune_malloc()
    set_threads(None)
    model = faceprint.load(args.model)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lfw_speed_"))
    print(f"Machine: {machine()}; model {model.fingerprint} ({model.config.backbone} @ "
          f"{model.preprocessing.input_size} px)\n")
    if args.only != "command":
        every_image(model, work, args.min_face)
    if args.only != "all":
        the_command(model, work)


def the_command(model, work: Path) -> None:  # type: ignore[no-untyped-def]
    """`faceprint evaluate lfw` on the photos, as a user runs it (the pairs' images only, nothing written; MTCNN's
    default 20 px smallest face)."""
    from faceprint.data import read_lfw_pairs
    from faceprint.evaluation.protocol import evaluate_pairs

    t0 = time.perf_counter()
    pairs = read_lfw_pairs(LFW / "protocol" / "pairs.txt", LFW / "lfw-deepfunneled")
    res = evaluate_pairs(model, pairs, cache_dir=work / "cache_command", progress=False, protocol="pairs.txt",
                         input="photos", select="central")
    t = time.perf_counter() - t0
    n = len({p for pair in pairs for p in (pair.path1, pair.path2)})
    print(f"\n`faceprint evaluate lfw --input photos` ({n:,} images of the 6,000 pairs, detect + align + embed in "
          f"memory, cold cache): **{t:.1f} s** ({t / 60:.1f} min), {n / t:.1f} photos/s; "
          f"{len(res.centre_crop_fallbacks)} centre-crop fallback(s)\nLFW: {res.report.summary()}")


def every_image(model, work: Path, min_face: float) -> None:  # type: ignore[no-untyped-def]
    """All 13,233 images aligned to files by `faceprint align`'s code, embedded from them, then the protocol."""
    from faceprint.data import read_lfw_pairs
    from faceprint.detection.folder import align_folder
    from faceprint.embeddings import embed_paths, list_images
    from faceprint.evaluation import evaluate_verification

    times = {}
    t0 = time.perf_counter()
    pre = model.preprocessing
    rep = align_folder(LFW / "lfw-deepfunneled", work / "aligned", pre.alignment, pre.align_size, pre.margin,
                       select="central", min_face=min_face, progress=False)
    # The paper's rule for an image where no face is found: use its centre crop (LFW's images are centred crops).
    for src in rep.no_face:
        rel = Path(src).relative_to(LFW / "lfw-deepfunneled")
        shutil.copy(src, (work / "aligned" / rel).with_suffix(".jpg"))
    times[f"align (MTCNN from {min_face:g} px faces, 2 processes)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    paths, ids = list_images(work / "aligned")
    es = embed_paths(model, paths, ids, cache_dir=work / "cache", progress=False)
    times[f"decode + embed {len(es.paths):,} faces"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pairs = read_lfw_pairs(LFW / "protocol" / "pairs.txt", work / "aligned")
    index = {p: i for i, p in enumerate(es.paths)}
    a = np.array([index[str(p.path1)] for p in pairs])
    b = np.array([index[str(p.path2)] for p in pairs])
    d = model.distance.paired(torch.from_numpy(es.embeddings[a]), torch.from_numpy(es.embeddings[b])).numpy()
    report = evaluate_verification(d, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]))
    times["protocol (6,000 pairs, 10 folds)"] = time.perf_counter() - t0
    print("| stage | seconds |\n|---|---|")
    for k, v in times.items():
        print(f"| {k} | {v:.1f} |")
    print(f"| **total** | **{sum(times.values()):.1f}** ({sum(times.values()) / 60:.1f} min) |")
    print(f"\nalign: {rep.summary()}\nLFW on these crops: {report.summary()}")


if __name__ == "__main__":
    main()
