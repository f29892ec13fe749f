"""The shipped default beside the one it replaced (dlib's ResNet, `--model dlib`): one table, the choice of default.

Speed is measured here, now, both networks in one process, interleaved: faces/s of the network alone on aligned
faces (`model.embed` as every command runs it, the network alone with channels-last and bf16 autocast, test-time
flip, and the exported ONNX file in faceprint's onnxruntime embedder), 2 threads, median of repeats. Accuracy comes from the reports `experiments/reid_eval.sh` writes
(runs/reid/*.json: `faceprint evaluate lfw` on LFW's photos, identify / cluster / open-set calibration on LFW
View 2 folds 6-10 people, whom no threshold was fitted on); a figure whose report is missing prints as "-".

    python benchmarks/default_models.py [--reports runs/reid] [--faces 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

import faceprint  # noqa: E402
from faceprint.api import DEFAULT_MODEL, NAMED_MODELS  # noqa: E402
from faceprint.cli.common import load_torch_model_arg  # noqa: E402  (the PyTorch networks beside the core's)

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"


def _median_rate(fn, n: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return n / float(np.median(times))


def speeds(models: dict, faces: int, repeats: int) -> dict[str, dict[str, float]]:
    """faces/s per model and way of running it, measured interleaved (model A, model B, A, B, ...), on `faces`
    random aligned faces of each model's own size."""
    from faceprint.deploy.export import export_onnx
    from faceprint.deploy.runtime import OnnxEmbedder

    rng = np.random.default_rng(0)
    cases: dict[str, dict] = {}
    tmp = Path(tempfile.mkdtemp())
    for name, m in models.items():
        s = m.preprocessing.stored_size
        crops = rng.integers(0, 256, (faces, s, s, 3), dtype=np.uint8)
        x = m.preprocessing.to_tensor(crops[:32])  # channels-last in memory, as model.embed feeds the network
        net = m if name != "dlib" else copy.deepcopy(m).to(memory_format=torch.channels_last)
        onnx = OnnxEmbedder(export_onnx(m, tmp / f"{name}.onnx"))

        def bf16(net=net, x=x):  # type: ignore[no-untyped-def]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                net(x)

        cases[name] = {
            "model.embed (faceprint's path: PyTorch, batches of 128)": lambda m=m, c=crops: m.embed(c),
            "network alone, batch 32, channels-last model": lambda net=net, x=x: net(x),
            "network alone, batch 32, bf16 autocast": bf16,
            "model.embed with test-time flip (sum)": lambda m=m, c=crops: m.embed(c, flip="sum"),
            "onnxruntime (OnnxEmbedder.embed, batches of 128)": lambda o=onnx, c=crops: o.embed(c),
            "onnxruntime, batches of 8": lambda o=onnx, c=crops: o.embed(c, batch_size=8),
        }
    photos = sorted((LFW / "lfw-deepfunneled").rglob("*.jpg"))[::13][:800]  # people of every initial
    if photos:  # the whole photo path: MTCNN in 2 worker processes (started in the call), alignment, network
        for name, m in models.items():
            cases[name]["photos/s, faceprint.embed of 800 LFW photos (MTCNN + alignment + network)"] = (
                lambda m=m: faceprint.embed(m, photos, workers=2))
    sizes = {case: (32 if "batch 32" in case else len(photos) if "LFW photos" in case else faces)
             for case in next(iter(cases.values()))}
    out: dict[str, dict[str, float]] = {name: {} for name in models}
    with torch.no_grad():
        for case in next(iter(cases.values())):
            for _ in range(2):  # two rounds, interleaved: the faster of each model's two medians
                for name in models:
                    r = _median_rate(cases[name][case], sizes[case], 1 if "LFW photos" in case else repeats)
                    out[name][case] = max(out[name].get(case, 0.0), r)
    return out


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def accuracy(reports: Path, name: str) -> dict[str, str]:
    """The figures of one model from its reports ("-" where a report is missing)."""
    out = {}
    lfw = _read(reports / f"lfw_{name}.json")
    if lfw:
        r = lfw["report"]
        out["LFW View 2 accuracy (faceprint evaluate lfw, photos)"] = (f"{100 * r['accuracy_mean']:.2f}% "
                                                                       f"+- {100 * r['accuracy_std']:.2f}")
        out["VAL@FAR=1e-3"] = f"{100 * r['val_mean']:.2f}% +- {100 * r['val_std']:.2f}"
    oracle = reports / f"open_oracle_{name}.log"
    if oracle.exists():
        row = next((ln.split() for ln in oracle.read_text().splitlines() if ln.split()[:1] == ["100"]), None)
        if row:
            out["open-set DIR at 1% FAR, 100-person galleries (878 unseen people, 10 splits)"] = row[3]
    ident = _read(reports / f"identify_{name}.json")
    if ident:
        r = ident.get("report", ident)
        out["rank-1 / rank-5 (125 unseen people, 1 gallery photo each)"] = (f"{100 * r['rank1']:.2f}% / "
                                                                           f"{100 * r['rank5']:.2f}%")
    cl = _read(reports / f"cluster_{name}.json")
    if cl:
        r = cl.get("report", cl)
        out["faceprint cluster on them: clusters for 125 people / pairwise F1"] = (f"{r['n_clusters']} / "
                                                                                  f"{r['pairwise_f1']:.3f}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reports", default="runs/reid", help="the folder experiments/reid_eval.sh wrote")
    p.add_argument("--faces", type=int, default=256, help="faces per timed call")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from faceprint.utils.runtime import tune_malloc

    tune_malloc()
    models = {"reid": load_torch_model_arg(None), "dlib": load_torch_model_arg("dlib")}
    files = {"reid": DEFAULT_MODEL, "dlib": NAMED_MODELS["dlib"]}
    rows: dict[str, dict[str, str]] = {}
    for name in models:
        m = models[name]
        rows.setdefault(name, {})["network"] = (f"{m.config.graph['name'] if m.config.graph else m.config.backbone}, "
                                                f"{sum(p.numel() for p in m.parameters()) / 1e6:.2f} M parameters, "
                                                f"{m.preprocessing.input_size} px")
        rows[name]["model file"] = f"{files[name].stat().st_size / 1e6:.1f} MB ({m.config.weights_dtype})"
        rows[name].update(accuracy(Path(args.reports), name))
    for name, rates in speeds(models, args.faces, args.repeats).items():
        for case, r in rates.items():
            rows[name][case if case.startswith("photos/s") else f"faces/s, {case}"] = f"{r:.0f}"
    keys = list(dict.fromkeys(k for r in rows.values() for k in r))
    print(f"machine: {machine()}; {args.faces} faces a call, median of {args.repeats}, best of 2 interleaved "
          "rounds\n")
    print("| figure | default: face-reidentification-retail-0095 | `--model dlib` |")
    print("|---|---|---|")
    for k in keys:
        print(f"| {k} | {rows['reid'].get(k, '-')} | {rows['dlib'].get(k, '-')} |")


if __name__ == "__main__":
    main()
