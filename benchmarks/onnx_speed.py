"""The embedding network in four runtimes, side by side: PyTorch float32 and bfloat16 (autocast), onnxruntime float32
(`faceprint export`) and onnxruntime int8 (dynamic quantisation of that file): images/s on real faces, and what each
does to LFW (View 2, 10 folds, the same aligned faces for all four).

    python benchmarks/onnx_speed.py [--model M] [--workdir DIR] [--pairs N]

Faces: the images of LFW's pairs, detected and aligned as the model expects (MTCNN, the central face), once, kept in
WORKDIR/faces.npz for reruns. Speed: batches of 64 faces, median of 5 passes after a warm-up, all cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"


def aligned_faces(model, pairs, work: Path) -> tuple[dict[str, int], np.ndarray]:  # type: ignore[no-untyped-def]
    """Each pair image's central face as the model's stored crop; images without a face keep their centre crop."""
    import hashlib

    paths = sorted({str(p.path1) for p in pairs} | {str(p.path2) for p in pairs})
    key = hashlib.sha256("\n".join(paths).encode()).hexdigest()[:12]
    cache = work / f"faces_{model.fingerprint}_{key}.npz"
    if cache.exists():
        z = np.load(cache)
        return {p: i for i, p in enumerate(z["paths"])}, z["stored"]
    from faceprint.detection.pipeline import FaceAligner

    pre = model.preprocessing
    stored = []
    for path, faces in FaceAligner(pre, select="central").align_many(paths):
        stored.append(pre.from_array(faces[0].image) if isinstance(faces, list) else pre.load(path))
    arr = np.stack(stored)
    np.savez(cache, paths=np.array(paths), stored=arr)
    return {p: i for i, p in enumerate(paths)}, arr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="default: the shipped model")
    ap.add_argument("--workdir", help="exported files and aligned faces (default: a temporary folder)")
    ap.add_argument("--pairs", type=int, help="use N pairs of each fold, half genuine (default: all 6,000)")
    args = ap.parse_args()
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import faceprint

    from faceprint.cli.common import load_torch_model_arg  # the PyTorch network
    from faceprint.data import read_lfw_pairs
    from faceprint.deploy.export import export_onnx
    from faceprint.deploy.runtime import OnnxEmbedder, sidecar
    from faceprint.evaluation import evaluate_verification
    from faceprint.utils.io import file_sha256
    from faceprint.utils.runtime import set_threads, tune_malloc

    tune_malloc()
    threads = set_threads(None)
    model = load_torch_model_arg(args.model)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="onnx_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(model, work / "model.onnx")
    int8 = work / "model_int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    meta = sidecar(fp32).read_text()
    sidecar(int8).write_text(meta.replace(file_sha256(fp32), file_sha256(int8)))
    pairs = read_lfw_pairs(LFW / "protocol" / "pairs.txt", LFW / "lfw-deepfunneled")
    if args.pairs:
        pairs = [p for f in range(10) for s in (True, False)
                 for p in [q for q in pairs if q.fold == f and q.same == s][: args.pairs // 2]]
    t0 = time.perf_counter()
    index, stored = aligned_faces(model, pairs, work)
    print(f"aligned {len(stored)} faces in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    def torch_embed(bf16: bool):  # type: ignore[no-untyped-def]
        def run(x: np.ndarray) -> np.ndarray:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return model.embed(x, batch_size=64)
        return run

    runtimes = {"PyTorch float32": torch_embed(False), "PyTorch bfloat16 (autocast)": torch_embed(True),
                "onnxruntime float32": OnnxEmbedder(fp32).embed, "onnxruntime int8 (dynamic)": OnnxEmbedder(int8).embed}
    batch = stored[:64]
    a = np.array([index[str(p.path1)] for p in pairs])
    b = np.array([index[str(p.path2)] for p in pairs])
    same, folds = np.array([p.same for p in pairs]), np.array([p.fold for p in pairs])
    print(f"Machine: {machine()}; model {model.fingerprint} ({model.config.backbone} @ "
          f"{model.preprocessing.input_size} px), {threads} threads; file sizes: ONNX float32 "
          f"{fp32.stat().st_size / 2**20:.1f} MB, int8 {int8.stat().st_size / 2**20:.1f} MB\n")
    print(f"| runtime | faces/s (batch 64) | LFW accuracy ({len(pairs)} pairs) | VAL@FAR=1e-3 | largest difference "
          "from PyTorch float32 |")
    print("|---|---|---|---|---|")
    ref = None
    for name, embed in runtimes.items():
        embed(batch)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            embed(batch)
            times.append(time.perf_counter() - t)
        rate = len(batch) / float(np.median(times))
        e = embed(stored)
        ref = e if ref is None else ref
        d = ((e[a] - e[b]) ** 2).sum(1)
        rep = evaluate_verification(d, same, folds)
        print(f"| {name} | {rate:.1f} | {100 * rep.accuracy_mean:.2f}% +- {100 * rep.accuracy_std:.2f} | "
              f"{100 * rep.val_mean:.2f}% | {np.abs(e - ref).max():.1e} |", flush=True)
    print(f"\n(os.cpu_count() = {os.cpu_count()}; faces kept in {work})")


if __name__ == "__main__":
    main()
