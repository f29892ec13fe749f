"""The light core beside the PyTorch path, side by side in one run, on this machine.

    python benchmarks/core.py [--before REV] [--photos N] [--fresh-clone]

1. The embedding network, faces/s at batch 1 and 64, both shipped models: PyTorch (the network training uses) and
   onnxruntime (the core's), interleaved, median of 5 rounds.
2. The photo path (decode, detect, align, embed; one photo at a time, as `verify` and the service do), both
   detectors, LFW photos (or the shipped ones): before (the three MTCNN networks and the embedder in PyTorch: the
   reference copy in tests/detection/reference_mtcnn.py) against the core (all in onnxruntime).
3. Start-up: `faceprint --help` and `faceprint verify` of two shipped photos, wall time (median of 7), in a core
   environment (made here: `pip install .`, torch blocked) and in this environment at REV (the commit before the
   core, via a git worktree: the PyTorch path); the import time of faceprint, numpy, Pillow, onnxruntime and torch.
4. Install size of the core environment; with --fresh-clone, `make demo` on a fresh clone: time to its report and
   the size of its .venv.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _measure import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
NO_TORCH = '''import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoTorch())
'''


def rate(fn, x, seconds: float = 1.5) -> float:  # type: ignore[no-untyped-def]
    fn(x)
    t, k = time.perf_counter(), 0
    while time.perf_counter() - t < seconds:
        fn(x)
        k += 1
    return k * len(x) / (time.perf_counter() - t)


def networks() -> None:
    import torch

    from faceprint.api import DEFAULT_MODEL, NAMED_MODELS
    from faceprint.models.io import load_model
    from faceprint.models.onnx_model import OnnxModel

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    print("\n| model | batch | PyTorch faces/s | onnxruntime faces/s | ratio |\n|---|---|---|---|---|")
    for name, path in (("default", DEFAULT_MODEL), ("dlib", NAMED_MODELS["dlib"])):
        tm, om = load_model(path), OnnxModel.from_file(path)
        size = tm.preprocessing.input_size
        for batch in (1, 64):
            x = np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32)
            runs = [(rate(tm._forward, x), rate(om._forward, x)) for _ in range(5)]
            t, o = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            print(f"| {name} | {batch} | {t:.1f} | {o:.1f} | {o / t:.2f}x |", flush=True)


def photo_path(n: int) -> None:
    from faceprint.api import DEFAULT_MODEL, NAMED_MODELS
    from faceprint.data.images import read_image
    from faceprint.demo import PHOTOS
    from faceprint.detection.pipeline import FaceAligner
    from faceprint.detection.registry import make_detector
    from faceprint.models.io import load_model
    from faceprint.models.onnx_model import OnnxModel
    from tests.detection.reference_mtcnn import MTCNN as TorchMTCNN

    files = sorted(LFW.rglob("*.jpg"))[::37][:n] if LFW.is_dir() else sorted(PHOTOS.rglob("*.jpg"))
    print(f"\nPhoto path, {len(files)} {'LFW' if LFW.is_dir() else 'shipped'} photos one at a time (photos/s):\n")
    print("| model | detector | before (PyTorch) | core (onnxruntime) | ratio |\n|---|---|---|---|---|")
    for name, path in (("default", DEFAULT_MODEL), ("dlib", NAMED_MODELS["dlib"])):
        tm, om = load_model(path), OnnxModel.from_file(path)
        for det in ("mtcnn", "yunet"):
            before = FaceAligner(tm.preprocessing, select="best",
                                 detector=TorchMTCNN() if det == "mtcnn" else make_detector("yunet"))
            core = FaceAligner(om.preprocessing, select="best", detector=make_detector(det))
            res = []
            for _ in range(3):
                for model, aligner, key in ((tm, before, 0), (om, core, 1)):
                    t = time.perf_counter()
                    for f in files:
                        faces = aligner.align(read_image(f), str(f))
                        if faces:
                            model.embed([faces[0].image])
                    res.append((key, len(files) / (time.perf_counter() - t)))
            b = statistics.median(r for k, r in res if k == 0)
            c = statistics.median(r for k, r in res if k == 1)
            print(f"| {name} | {det} | {b:.1f} | {c:.1f} | {c / b:.2f}x |", flush=True)


def wall(cmd: list[str], env: dict, cwd: Path, n: int = 7) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def startup(before: str, work: Path) -> Path:
    venv = work / "core"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(ROOT)], check=True,
                   capture_output=True)
    site = subprocess.run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "_no_torch.py").write_text(NO_TORCH)
    Path(site, "_no_torch.pth").write_text("import _no_torch\n")
    old = work / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old), before], check=True)
    from faceprint.demo import PHOTOS

    a, b = sorted((PHOTOS / "Laura_Bush").glob("*.jpg"))[:2]
    core_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    old_env = {**core_env, "PYTHONPATH": str(old / "src")}
    core_fp = [str(venv / "bin/python"), "-m", "faceprint"]
    old_fp = [sys.executable, "-m", "faceprint"]
    print("\n| command | before (PyTorch path) s | core s |\n|---|---|---|")
    for label, args in (("faceprint --help", ["--help"]), ("faceprint verify A B", ["verify", str(a), str(b)])):
        print(f"| `{label}` | {wall(old_fp + args, old_env, work):.2f} | {wall(core_fp + args, core_env, work):.2f} |",
              flush=True)
    print("\nImport time (median of 5 fresh interpreters, s):\n\n| module | environment | s |\n|---|---|---|")
    for py, env, mods in ((str(venv / "bin/python"), core_env, ["numpy", "PIL.Image", "onnxruntime", "faceprint",
                                                                "faceprint.cli"]),
                          (sys.executable, core_env, ["torch"])):
        for mod in mods:
            code = f"import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"
            ts = [float(subprocess.run([py, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
                  for _ in range(5)]
            print(f"| {mod} | {'core' if py != sys.executable else 'with torch'} | {statistics.median(ts):.3f} |")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=True)
    return venv


def du(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def fresh_clone(work: Path) -> None:
    clone = work / "clone"
    t = time.perf_counter()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    out = subprocess.run(["make", "demo"], cwd=clone, capture_output=True, text=True)
    took = time.perf_counter() - t
    ok = out.returncode == 0 and (clone / "demo-out" / "report.html").exists()
    print(f"\n`make demo` on a fresh clone: {'report written' if ok else 'FAILED'} {took:.1f} s after the clone "
          f"began; .venv {du(clone / '.venv'):.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="af1c64d", help="the commit before the core (the PyTorch path)")
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--fresh-clone", action="store_true")
    args = ap.parse_args()
    print(f"Machine: {machine()}")
    networks()
    photo_path(args.photos)
    work = Path(tempfile.mkdtemp(prefix="core_bench_"))
    try:
        venv = startup(args.before, work)
        print(f"\nCore environment (pip install ., no extras): {du(venv):.0f} MiB")
        if args.fresh_clone:
            fresh_clone(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
