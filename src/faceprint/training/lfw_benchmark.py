"""LFW honestly: models that never saw the tested people.

"unrestricted" (LFW's protocol for outside data plus LFW identities): the 10 folds of View 2 are split into
`splits` groups; for each group a model is trained on the people of the other folds (plus any outside data) and
tested on the group's pairs, thresholds chosen by cross-validation over that group's folds (one model's distances
are never thresholded with another's). The 10 fold accuracies give mean +- std.
"outside": one model trained on outside data only (no LFW identity at all), tested on all 10 folds.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from faceprint.data import read_lfw_pairs, read_lfw_people
from faceprint.errors import InputError
from faceprint.evaluation.protocol import evaluate_pairs
from faceprint.models import load_model
from faceprint.training.config import TrainConfig
from faceprint.training.loop import train

PROTOCOLS = ("unrestricted", "outside")


def _train_once(job: tuple[TrainConfig, Path]) -> None:
    """Train one split's model unless it is done; a killed benchmark resumes its runs.

    A run stopped by --max-minutes before its --steps is not done: running the benchmark again continues it (a long
    recipe in chunks), and the report meanwhile tests the best model so far, with its step stated.
    """
    cfg, run = job
    if not (run / "done").exists():
        result = train(cfg, run, resume=(run / "checkpoint.pt").exists())
        if result.step >= cfg.steps or result.collapsed:
            (run / "done").write_text("")


def _steps_done(run: Path) -> int:
    """The last step a run logged (metrics.csv), 0 if none."""
    try:
        rows = (run / "metrics.csv").read_text().strip().splitlines()
        return int(rows[-1].split(",")[0]) if len(rows) > 1 else 0
    except (OSError, ValueError):
        return 0


def lfw_benchmark(
    lfw_dir: str | Path,
    protocol_dir: str | Path,
    out: str | Path,
    base: TrainConfig,
    protocol: str = "unrestricted",
    splits: int = 2,
    progress: bool = True,
    parallel: int = 1,
    flip: str = "none",
    lfw_train_dir: str | Path | None = None,
) -> dict:
    """Train and test as the protocol says; writes OUT/report.json and OUT/report.md and returns the report.

    The test pairs are read from `lfw_dir`: as they are by a model trained on LFW-style crops (LFW's own framing),
    else as photos, each face detected and aligned the model's way (the central face, LFW's subject).
    `lfw_train_dir`: the LFW images to train on, if not `lfw_dir` itself (e.g. `faceprint align` output of it for a
    model that expects another alignment); the same people are left out of it.

    `parallel` trains that many models at once in separate processes (give each `threads` = cores / parallel).
    `flip` = "sum" tests on the sum of each face's and its mirror image's embeddings; the report files then end in
    `_flip-sum`, and a run whose models are trained already only re-tests.
    """
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if not 2 <= splits <= 10:
        raise InputError(f"splits must be in 2..10, got {splits}")
    lfw_dir, protocol_dir, out = Path(lfw_dir), Path(protocol_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = read_lfw_pairs(protocol_dir / "pairs.txt", lfw_dir)
    people = read_lfw_people(protocol_dir / "people.txt")
    lfw_train = Path(lfw_train_dir) if lfw_train_dir else lfw_dir
    outside = [d for d in base.data if Path(d).resolve() not in (lfw_dir.resolve(), lfw_train.resolve())]
    if protocol == "outside":
        if not outside:
            raise InputError("the outside-data protocol needs training data other than LFW")
        groups = [list(range(10))]
    else:
        groups = [[int(f) for f in g] for g in np.array_split(np.arange(10), splits)]
    t0 = time.monotonic()
    jobs = []
    for gi, test_folds in enumerate(groups):
        if protocol == "outside":
            cfg = replace(base, data=outside, exclude=None)
        else:
            held = sorted({name for f in test_folds for name, _ in people[f]})
            exclude = out / f"split{gi}_test_people.txt"
            exclude.write_text("\n".join(held) + "\n")
            cfg = replace(base, data=[str(lfw_train), *outside], exclude=str(exclude))
        jobs.append((cfg, out / f"split{gi}"))
    if base.teacher and (outside or base.unlabelled) and any(not (run / "done").exists() for _, run in jobs):
        # The outside data are in every split: their teacher targets once, before the splits start side by side.
        # LFW images are each in one split's training only and are embedded there.
        from faceprint.data import FaceDataset
        from faceprint.data.dataset import unlabelled_photos
        from faceprint.training.teacher import teacher_embeddings

        shared = FaceDataset.from_folders(outside, dedupe=base.dedupe).paths if outside else []
        if base.unlabelled:  # the unlabelled photos of no LFW person: every split trains on those
            shared += unlabelled_photos(base.unlabelled, {n for fold in people for n, _ in fold})
        teacher_embeddings(base.teacher, shared, Path(base.cache_dir) if base.cache_dir else None, progress,
                           base.teacher_input)
    if parallel > 1:
        ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked OpenMP state
        with ProcessPoolExecutor(min(parallel, len(jobs)), mp_context=ctx) as pool:
            list(pool.map(_train_once, jobs))
    else:
        for job in jobs:
            _train_once(job)
    fold_rows, halves = [], []
    for gi, test_folds in enumerate(groups):
        run = out / f"split{gi}"
        model = load_model(run / "best.pt")
        test = [p for p in pairs if p.fold in test_folds]
        res = evaluate_pairs(model, test, flip=flip, cache_dir=Path(base.cache_dir) if base.cache_dir else None,
                             progress=progress, protocol="pairs.txt",
                             input="crops" if model.preprocessing.alignment == "lfw" else "photos", select="central")
        halves.append({"split": gi, "test_folds": test_folds, "model": str(run / "best.pt"),
                       "fingerprint": model.fingerprint, "steps_done": _steps_done(run),
                       "finished": (run / "done").exists(), "no_face_centre_crops": res.centre_crop_fallbacks,
                       "report": res.report.to_dict()})
        fold_rows.extend(res.report.folds)
    acc = np.array([f.accuracy for f in fold_rows])
    val = np.array([f.val for f in fold_rows])
    report = {
        "protocol": protocol, "splits": len(groups), "outside_data": outside, "flip": flip,
        "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
        "val_mean": float(val.mean()), "val_std": float(val.std()), "far_target": base.far,
        "auc_mean": float(np.mean([h["report"]["auc"] for h in halves])),
        "folds": [{"fold": f.fold, "accuracy": f.accuracy, "threshold": f.threshold, "val": f.val, "far": f.far}
                  for f in fold_rows],
        "models": halves, "minutes": (time.monotonic() - t0) / 60,
        "recipe": {k: v for k, v in base.to_dict().items() if k not in ("data", "exclude", "progress")},
    }
    suffix = "" if flip == "none" else f"_flip-{flip}"
    (out / f"report{suffix}.json").write_text(json.dumps(report, indent=1))
    lines = [f"# LFW, {protocol} protocol ({len(groups)} model(s); outside data: {', '.join(outside) or 'none'}; "
             f"test-time flip: {flip})", "",
             f"Accuracy {100 * report['accuracy_mean']:.2f}% +- {100 * report['accuracy_std']:.2f} over 10 folds; "
             f"VAL@FAR={base.far:g} {100 * report['val_mean']:.2f}% +- {100 * report['val_std']:.2f}; "
             f"AUC {report['auc_mean']:.4f}.", "",
             *[f"Split {h['split']}: {h['steps_done']} of {base.steps} steps"
               f"{'' if h['finished'] else ' (paused at its time limit: run again to continue)'}." for h in halves],
             "", "| fold | model | threshold | accuracy | VAL | FAR |",
             "|---|---|---|---|---|---|"]
    for h in halves:
        for f in h["report"]["folds"]:
            lines.append(f"| {f['fold'] + 1} | split {h['split']} | {f['threshold']:.4f} | {100 * f['accuracy']:.2f}% "
                         f"| {100 * f['val']:.2f}% | {100 * f['far']:.3f}% |")
    (out / f"report{suffix}.md").write_text("\n".join(lines) + "\n")
    return report
