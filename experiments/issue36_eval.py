"""Issue 36: accuracy of every way of getting YuNet's five points against MTCNN's, in one run, on the model card's
figures, plus what mixing detectors costs. Writes runs/i36/ (resumable: each aligned folder is kept).

For each detector (mtcnn; yunet: in runs/i36/results.json O-Net once on YuNet's box, what "yunet" was when that row was
measured, now `yunet-onet`; yunet-onetflip: O-Net on the crop and on its mirror, averaged, what "yunet" is now;
yunet-intel: Intel's landmarks-0009 on YuNet's box; yunet-mapped: YuNet's own points mapped linearly onto MTCNN's, the
old `--detector yunet`; yunet-mean: O-Net's and Intel's points averaged):
- LFW (all 13,233 photos) aligned onto the default model's template (`align --method five-point-reid --size 128
  --select central`), cut into the model card's unseen-people folders (experiments/make_unseen.py), and the open-set
  DIR at 1% stranger FAR by gallery size on folds 6-10's 878 people (10 redrawn splits, as `calibrate --open-set`);
- LFW View 2 through the photo path (central face; a photo without a face: its centre crop), the default model and
  `--model dlib`, thresholds cross-validated over the folds (as `evaluate lfw --input photos`).
Mixing: the gallery's faces found by MTCNN and the probes' by yunet (the open-set figure), and LFW pairs whose first
photo went through MTCNN and the second through yunet.

    python experiments/issue36_eval.py [--only mtcnn,yunet]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw"
OUT = ROOT / "runs" / "i36"
VARIANTS = ("mtcnn", "yunet", "yunet-intel", "yunet-mapped", "yunet-onetflip", "yunet-mean")


class MeanPoints:
    """The mean of several landmark networks' points (measured, not kept: below O-Net's on LFW and DIR)."""

    def __init__(self, *nets) -> None:  # type: ignore[no-untyped-def]
        self.nets = nets

    def points(self, images, boxes):  # type: ignore[no-untyped-def]
        each = [net.points(images, boxes) for net in self.nets]
        return [np.mean([e[i] for e in each], 0) for i in range(len(boxes))]


def register() -> None:
    """The names measured here. "yunet" was O-Net once when its row was measured; "yunet-onetflip" is what
    "yunet" is now (O-Net on the crop and its mirror, averaged)."""
    from faceprint.detection.landmarks import IntelPoints, ONetPoints
    from faceprint.detection.registry import register_detector
    from faceprint.detection.yunet import YuNet

    for name, points in (("yunet-onet", "onet"), ("yunet-intel", "intel"), ("yunet-mapped", "mapped"),
                         ("yunet-onetflip", "onet-flip")):
        register_detector(name, lambda min_face, threads, p=points: YuNet(min_face=min_face, threads=threads,
                                                                          landmarks=p))

    def mean(min_face: float, threads: int | None) -> YuNet:
        det = YuNet(min_face=min_face, threads=threads, landmarks="own")
        det.refiner = MeanPoints(ONetPoints(threads=threads), IntelPoints(threads=threads))
        det.landmarks = "mean of onet and intel"
        return det

    register_detector("yunet-mean", mean)


def folder(v: str) -> Path:
    return ROOT / "runs" / "data" / ("lfw_reid" if v == "mtcnn" else f"lfw_reid_{v}")


def aligned(v: str) -> None:
    from faceprint.detection.folder import align_folder

    dst = folder(v)
    if not (dst / ".done").exists():
        rep = align_folder(LFW / "lfw-deepfunneled", dst, method="five_point_reid", size=128, select="central",
                           detector=v, progress=False)
        (OUT / f"align_{v}.txt").write_text(rep.summary() if hasattr(rep, "summary") else str(rep))
        (dst / ".done").touch()
    sfx = "_reid" if v == "mtcnn" else f"_reid{v.replace('-', '')}"
    if not (ROOT / "runs" / "data" / f"lfw610_open{sfx}").is_dir():
        subprocess.run([sys.executable, "experiments/make_unseen.py", "from", str(dst), sfx], cwd=ROOT, check=True)


def open_set_embeddings(model, v: str) -> tuple[list[str], np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    from faceprint.pipeline import Pipeline

    sfx = "_reid" if v == "mtcnn" else f"_reid{v.replace('-', '')}"
    root = ROOT / "runs" / "data" / f"lfw610_open{sfx}"
    files = sorted(root.glob("*/*"))
    es = Pipeline(model, input="crops").embed(files)
    keys = [f"{Path(p).parent.name}/{Path(p).name}" for p in es.paths]
    names = [k.split("/")[0] for k in keys]
    return keys, np.unique(names, return_inverse=True)[1], es.embeddings


def lfw_embeddings(model, v: str, paths: list[Path]) -> tuple[np.ndarray, int]:  # type: ignore[no-untyped-def]
    from faceprint.pipeline import Pipeline

    es = Pipeline(model, input="photos", select="central", no_face="centre_crop", detector=v).embed(paths)
    row = {Path(p): i for i, p in enumerate(es.paths)}  # photos without a face come last, from their centre crop
    assert len(row) == len(paths) == len(es.paths) and not es.skipped
    return es.embeddings[[row[p] for p in paths]], len(es.fallbacks)


def verification(emb1: np.ndarray, emb2: np.ndarray, pairs, index) -> dict:  # type: ignore[no-untyped-def]
    from faceprint.evaluation.verification import evaluate_verification

    left = np.array([index[p.path1] for p in pairs])
    right = np.array([index[p.path2] for p in pairs])
    dist = ((emb1[left] - emb2[right]) ** 2).sum(1)
    rep = evaluate_verification(dist, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]), 1e-3)
    return {"accuracy": rep.accuracy_mean, "accuracy_std": rep.accuracy_std, "val": rep.val_mean, "auc": rep.auc}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(VARIANTS))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import faceprint
    from faceprint.data import read_lfw_pairs
    from faceprint.evaluation.identification import calibrate_open_set

    register()
    OUT.mkdir(parents=True, exist_ok=True)
    variants = args.only.split(",")
    results = json.loads((OUT / "results.json").read_text()) if (OUT / "results.json").exists() else {}
    default, dlib = faceprint.load(), faceprint.load("dlib")
    pairs = read_lfw_pairs(LFW / "protocol" / "pairs.txt", LFW / "lfw-deepfunneled")
    paths = sorted({p for pair in pairs for p in (pair.path1, pair.path2)})
    index = {p: i for i, p in enumerate(paths)}
    kept: dict[str, dict] = {}
    for v in variants:
        print(f"== {v}", flush=True)
        aligned(v)
        keys, labels, emb = open_set_embeddings(default, v)
        cal = calibrate_open_set(emb, labels, far=0.01, distance=default.distance)
        r = {"open_set": {"gallery_sizes": cal.gallery_sizes, "dir": cal.dir, "thresholds": cal.thresholds,
                          "identities": int(labels.max() + 1), "faces": len(keys)}}
        for name, model in (("default", default), ("dlib", dlib)):
            e, fallbacks = lfw_embeddings(model, v, paths)
            r[f"lfw_{name}"] = {**verification(e, e, pairs, index), "centre_crop_fallbacks": fallbacks}
            kept[f"{v}/{name}"] = {"lfw": e}
        kept[v] = {"keys": keys, "labels": labels, "emb": emb}
        results[v] = r
        print(json.dumps(r)[:600], flush=True)
        (OUT / "results.json").write_text(json.dumps(results, indent=1))
    if "mtcnn" in kept and "yunet" in kept:
        m, y = kept["mtcnn"], kept["yunet"]
        common = sorted(set(m["keys"]) & set(y["keys"]))
        mi, yi = ({k: i for i, k in enumerate(d["keys"])} for d in (m, y))
        rows_m, rows_y = [mi[k] for k in common], [yi[k] for k in common]
        cal = calibrate_open_set(m["emb"][rows_m], m["labels"][rows_m], far=0.01, distance=default.distance,
                                 probe_emb=y["emb"][rows_y])
        mix = {"open_set": {"gallery_sizes": cal.gallery_sizes, "dir": cal.dir, "thresholds": cal.thresholds,
                            "faces": len(common)}}
        for name in ("default", "dlib"):
            mix[f"lfw_{name}"] = verification(kept[f"mtcnn/{name}"]["lfw"], kept[f"yunet/{name}"]["lfw"], pairs, index)
        results["mtcnn gallery, yunet probes"] = mix
        (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print("| detector | DIR @1% FAR, 100 people | LFW default | VAL | LFW dlib | VAL |")
    print("|---|---|---|---|---|---|")
    for v, r in results.items():
        sizes = r["open_set"]["gallery_sizes"]
        d100 = r["open_set"]["dir"][sizes.index(100)] if 100 in sizes else float("nan")
        print(f"| {v} | {100 * d100:.2f}% | {100 * r['lfw_default']['accuracy']:.2f}% | "
              f"{100 * r['lfw_default']['val']:.2f}% | {100 * r['lfw_dlib']['accuracy']:.2f}% | "
              f"{100 * r['lfw_dlib']['val']:.2f}% |")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
