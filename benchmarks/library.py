"""The photo library on LFW: how long scans take, and how well its suggested people match LFW's people.

Every run goes through the `faceprint library` command in a fresh process, timed end to end (model loading
included), on a folder of links to LFW's photos:

  A  all 13,233 photos scanned into a new library at once (the first scan), then scanned again unchanged
  B  the same photos less `--hold` of them (random), then a scan that adds those: the incremental library
  M  187+ mosaics of 2 x 2 photos of four people (benchmarks/cannot_link.py's) added to A as a second scan

Quality is scored on the face of each photo that LFW labels: the detected face nearest the photo's centre, within its
central half (LFW's own rule); other faces (background people) are grouped but not scored. Pairwise precision,
recall and F1 over the labelled faces of the people with 2+ photos (an unassigned face counts as alone). B is compared
with A (pairwise F1 between the two groupings over all faces): does growing a library give what clustering it at
once gives?

    python benchmarks/library.py [--lfw ../shared/data/lfw/lfw-deepfunneled] [--out runs/library]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

from faceprint.evaluation.clustering import pairwise_scores  # noqa: E402


def faceprint(*args: str) -> tuple[float, str]:
    """Run `faceprint ARGS` in a fresh process: (wall seconds, its last output line)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "faceprint", *args], capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"faceprint {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    lines = out.stdout.strip().splitlines()
    return took, "\n".join(lines[-2:])


def link_photos(lfw: Path, folder: Path, names: list[str]) -> None:
    for rel in names:
        dst = folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.symlink(lfw / rel, dst)


def export(lib: Path) -> dict:
    return json.loads(subprocess.run([sys.executable, "-m", "faceprint", "library", "export", "--library", str(lib)],
                                     capture_output=True, text=True, check=True).stdout)


def faces_of(data: dict) -> dict[int, tuple[str, list[float], int]]:
    """{face id: (photo, box, person id; unassigned faces each their own negative id)}."""
    out = {}
    for p in data["people"]:
        for f in p["faces"]:
            out[f["id"]] = (f["photo"], f["box"], p["id"])
    for f in data["unassigned"]:
        out[f["id"]] = (f["photo"], f["box"], -f["id"])
    return out


def labelled(faces: dict[int, tuple[str, list[float], int]], size: float = 250.0) -> dict[str, int]:
    """{LFW photo: its labelled face}: the face nearest the centre, within the central half."""
    best: dict[str, tuple[float, int]] = {}
    for fid, (photo, box, _) in faces.items():
        off = max(abs((box[0] + box[2]) / 2 - size / 2), abs((box[1] + box[3]) / 2 - size / 2))
        if off <= size / 4 and off < best.get(photo, (np.inf, 0))[0]:
            best[photo] = (off, fid)
    return {photo: fid for photo, (_, fid) in best.items()}


def quality(data: dict) -> dict[str, float]:
    faces = faces_of(data)
    lab = {p: f for p, f in labelled(faces).items() if "/" in p and not p.startswith("mosaics/")}
    person = {p: p.split("/")[0] for p in lab}
    counts: dict[str, int] = {}
    for who in person.values():
        counts[who] = counts.get(who, 0) + 1
    photos = sorted(p for p in lab if counts[person[p]] >= 2)
    truth = np.array([person[p] for p in photos])
    pred = np.array([faces[lab[p]][2] for p in photos])
    prec, rec, f1 = pairwise_scores(truth, pred)
    # people with 2+ photos whose labelled faces are all in one person that holds no other labelled face
    owners: dict[int, set[str]] = {}
    for p, g in zip(photos, pred):
        owners.setdefault(int(g), set()).add(person[p])
    exact = sum(1 for who in set(truth) if len({int(g) for g, t in zip(pred, truth) if t == who}) == 1
                and owners[int(pred[truth == who][0])] == {who} and pred[truth == who][0] > 0)
    return {"precision": prec, "recall": rec, "f1": f1, "people": len(set(truth)), "exact": exact,
            "faces_scored": len(photos), "faces": len(faces), "labelled": len(lab),
            "suggested": sum(1 for p in data["people"] if p["name"] is None),
            "unassigned": len(data["unassigned"])}


def agreement(a: dict, b: dict) -> float:
    """Pairwise F1 of grouping b against grouping a, over the faces both hold (matched by photo and box)."""
    fa = {(p, tuple(round(v) for v in box)): g for p, box, g in faces_of(a).values()}
    fb = {(p, tuple(round(v) for v in box)): g for p, box, g in faces_of(b).values()}
    common = sorted(set(fa) & set(fb))
    return pairwise_scores(np.array([fa[k] for k in common]), np.array([fb[k] for k in common]))[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", default=str(Path(__file__).resolve().parents[2] / "shared/data/lfw/lfw-deepfunneled"))
    ap.add_argument("--out", default="runs/library")
    ap.add_argument("--hold", type=int, default=500, help="photos B adds in its second scan")
    ap.add_argument("--mosaic-people", help="a folder whose sub-folders name the LFW people tiled into mosaics "
                                            "(default: every LFW person with 4+ photos)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    lfw = Path(args.lfw).resolve()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    names = sorted(p.relative_to(lfw).as_posix() for p in lfw.glob("*/*.jpg"))
    rng = np.random.default_rng(args.seed)
    held = set(rng.choice(names, args.hold, replace=False).tolist())
    print(machine())
    rows = []

    a_dir, a_lib = out / "A", out / "A.db"
    link_photos(lfw, a_dir, names)
    t, line = faceprint("library", "scan", str(a_dir), "--library", str(a_lib), "--no-progress")
    rows.append((f"A: first scan, {len(names):,} photos", t, line))
    t, line = faceprint("library", "scan", str(a_dir), "--library", str(a_lib), "--no-progress")
    rows.append(("A: scan again, nothing changed", t, line))
    full_a = export(a_lib)

    b_dir, b_lib = out / "B", out / "B.db"
    link_photos(lfw, b_dir, [n for n in names if n not in held])
    t, line = faceprint("library", "scan", str(b_dir), "--library", str(b_lib), "--no-progress")
    rows.append((f"B: first scan, {len(names) - len(held):,} photos", t, line))
    link_photos(lfw, b_dir, sorted(held))
    t, line = faceprint("library", "scan", str(b_dir), "--library", str(b_lib), "--no-progress")
    rows.append((f"B: scan adding {len(held)} photos", t, line))
    inc_b = export(b_lib)
    shutil.copy(b_lib, out / "B_full.db")
    t, line = faceprint("library", "group", "--library", str(out / "B_full.db"), "--full")
    rows.append(("B: group --full (everything again, at once)", t, line))
    full_b = export(out / "B_full.db")

    print("\n| run | time | what it said |\n|---|---|---|")
    for what, t, line in rows:
        print(f"| {what} | {t:.1f} s | {line.replace(chr(10), ' / ')} |")
    print("\n| library | suggested people | unassigned faces | faces | pairwise precision | recall | F1 | "
          "people (2+ photos) as exactly one suggestion |\n|---|---|---|---|---|---|---|---|")
    for what, data in (("A: scanned at once", full_a), ("B: grown by a second scan", inc_b),
                       ("B: grouped again at once", full_b)):
        q = quality(data)
        print(f"| {what} | {q['suggested']:,} | {q['unassigned']:,} | {q['faces']:,} | {q['precision']:.4f} | "
              f"{q['recall']:.4f} | {q['f1']:.4f} | {q['exact']:,} of {q['people']:,} |")
    print(f"\nB grown against A scanned at once: pairwise F1 {agreement(full_a, inc_b):.4f}; B grown against B "
          f"grouped again: {agreement(full_b, inc_b):.4f} ({quality(full_a)['faces_scored']:,} faces scored)")

    from cannot_link import mosaics  # benchmarks/cannot_link.py

    people = (sorted(d.name for d in Path(args.mosaic_people).iterdir() if d.is_dir()) if args.mosaic_people else
              sorted({n.split("/")[0] for n in names if len(list((lfw / n.split('/')[0]).glob('*.jpg'))) >= 4}))
    (a_dir / "mosaics").mkdir()
    tiles = mosaics(lfw, people, a_dir / "mosaics", args.seed)
    t, line = faceprint("library", "scan", str(a_dir), "--library", str(a_lib), "--no-progress")
    data = export(a_lib)
    by_photo: dict[str, list[int]] = {}
    for photo, _, g in faces_of(data).values():
        if photo.startswith("mosaics/"):
            by_photo.setdefault(photo, []).append(g)
    shared = sum(len(g) - len(set(g)) for g in by_photo.values())
    print(f"\nM: {len(tiles)} mosaics added to A by a second scan in {t:.1f} s ({line.splitlines()[0]}): "
          f"{sum(map(len, by_photo.values()))} faces found in them; pairs of faces of one mosaic in one person: "
          f"{shared}")


if __name__ == "__main__":
    main()
