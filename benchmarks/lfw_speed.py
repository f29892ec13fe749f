"""End-to-end time for LFW on this machine: align all 13,233 images, embed them, run the View 2 protocol.

    python benchmarks/lfw_speed.py [--model M] [--workdir DIR] [--min-face PX]   # default model: the shipped one

Alignment uses `faceprint align` (MTCNN, two processes, the model's own alignment with --select central; an image
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
    args = ap.parse_args()
    import faceprint
    from faceprint.data import read_lfw_pairs
    from faceprint.detection.folder import align_folder
    from faceprint.embeddings import embed_paths, list_images
    from faceprint.evaluation import evaluate_verification
    from faceprint.utils.runtime import set_threads, tune_malloc

    tune_malloc()
    set_threads(None)
    model = faceprint.load(args.model)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lfw_speed_"))
    times = {}
    t0 = time.perf_counter()
    pre = model.preprocessing
    rep = align_folder(LFW / "lfw-deepfunneled", work / "aligned", pre.alignment, pre.align_size, pre.margin,
                       select="central", min_face=args.min_face, progress=False)
    # The paper's rule for an image where no face is found: use its centre crop (LFW's images are centred crops).
    for src in rep.no_face:
        rel = Path(src).relative_to(LFW / "lfw-deepfunneled")
        shutil.copy(src, (work / "aligned" / rel).with_suffix(".jpg"))
    times[f"align (MTCNN from {args.min_face:g} px faces, 2 processes)"] = time.perf_counter() - t0
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
    print(f"Machine: {machine()}; model {model.fingerprint} ({model.config.backbone} @ "
          f"{model.preprocessing.input_size} px)\n")
    print("| stage | seconds |\n|---|---|")
    for k, v in times.items():
        print(f"| {k} | {v:.1f} |")
    print(f"| **total** | **{sum(times.values()):.1f}** ({sum(times.values()) / 60:.1f} min) |")
    print(f"\nalign: {rep.summary()}\nLFW on these crops: {report.summary()}")


if __name__ == "__main__":
    main()
