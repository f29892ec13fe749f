"""Hostile files among good photos, through every command that reads images: files tried, errors reported, crashes
(a traceback or an unexpected exit), hangs, and peak memory of the command (its worker processes included).

    python benchmarks/robustness.py [--workdir DIR]

The folder: the package's 22 sample photos (6 people) plus, in one person's folder, every file
`faceprint.data.hostile.make_hostile_files` writes (truncated / corrupt JPEG, PNG, WebP; empty, text and random
files named as images; a PNG claiming 50,000 x 50,000 pixels; a 1 x 1 image; 16-bit, CMYK, palette, grey + alpha,
animated GIF and WebP, EXIF-rotated, a 3,000 px photo, a unicode name with spaces; a symlink loop, a dangling link,
a folder named like a photo).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

WRAP = ("import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr)\n"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(r.returncode)\n")


def run(args: list[str], timeout: float = 900) -> tuple[int | None, str, float, float]:
    """(exit code or None if it hung, output, seconds, peak MB of the command and its children)."""
    t = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", WRAP, sys.executable, "-m", "faceprint", *args],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", timeout, float("nan")
    peak = next((int(line.split()[1]) / 1024 for line in out.stderr.splitlines() if line.startswith("PEAK_KB")),
                float("nan"))
    return out.returncode, out.stdout + out.stderr, time.perf_counter() - t, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir")
    args = ap.parse_args()
    from faceprint.data import read_image
    from faceprint.data.hostile import make_hostile_files
    from faceprint.demo import PHOTOS

    work = Path(args.workdir or tempfile.mkdtemp(prefix="robustness_"))
    root = work / "mixed"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(PHOTOS, root, ignore=shutil.ignore_patterns("*.md"))
    host = sorted(d for d in root.iterdir() if d.is_dir())[0]
    expect = make_hostile_files(host, [read_image(p) for p in sorted(host.glob("*.jpg"))[:3]])
    bad = sorted(str(host / n) for n, e in expect.items() if e == "error")
    unusual = sorted(str(host / n) for n, e in expect.items() if e == "ok")
    files = sum(1 for p in root.rglob("*") if not p.is_dir() or p.suffix)
    good = sorted(str(p) for p in root.rglob("*.jpg") if p.is_file() and str(p) not in bad) + [
        u for u in unusual if not u.endswith(".jpg")]
    g = work / "g.db"
    g.unlink(missing_ok=True)
    cases = [
        ("embed", ["embed", str(root), "--out", str(work / "e.npz"), "--no-progress"]),
        ("align", ["align", str(root), str(work / f"aligned_{time.time_ns()}"), "--no-progress"]),
        ("enroll", ["enroll", "--gallery", str(g), str(root), "--no-progress"]),
        ("identify", ["identify", "--gallery", str(g), *good[:4], *bad, "--json", "--no-progress"]),
        ("cluster", ["cluster", str(root), "--out", str(work / "clusters"), "--no-progress"]),
        ("evaluate identify", ["evaluate", "identify", "--data", str(root), "--input", "photos", "--no-progress"]),
        ("verify (a good photo against each bad file)", None),
        ("train", ["train", "--data", str(root), "--out", str(work / f"run_{time.time_ns()}"), "--backbone",
                   "resnet10_quarter", "--input-size", "48", "--p", "3", "--k", "2", "--steps", "2", "--val-split",
                   "0.34", "--val-num-pairs", "10", "--no-progress", "--cache-dir", str(work / "cache")]),
    ]
    print(f"Machine: {machine()}\n")
    print(f"{files} files: {len(good)} good photos (of which {len(unusual)} in unusual forms), {len(bad)} hostile.\n")
    print("| command | files tried | errors reported (one line each) | good files processed | crashes | hangs | "
          "peak memory (MB) | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, cmd in cases:
        if cmd is None:
            crashes = hangs = reported = 0
            peak = secs = 0.0
            for b in bad:
                rc, text, s, p = run(["verify", good[0], b])
                hangs += rc is None
                crashes += rc not in (2, None) or "Traceback" in text
                reported += text.count(b) >= 1 and "error" in text
                peak, secs = max(peak, p), secs + s
            print(f"| {name} | {len(bad)} pairs | {reported} | - | {crashes} | {hangs} | {peak:.0f} | {secs:.1f} |")
            continue
        rc, text, secs, peak = run(cmd)
        crash = rc is None or rc != 0 or "Traceback" in text
        reported = sum(any(b in line for line in text.splitlines()) for b in bad)
        if name == "embed":
            import numpy as np

            done = {str(p) for p in np.load(work / "e.npz")["paths"]} if (work / "e.npz").exists() else set()
            processed = f"{sum(p in done for p in good)} of {len(good)}"
        elif name == "align":
            rep = json.loads(next(work.glob("aligned_*/align_report.json")).read_text()) if rc == 0 else {}
            processed = f"{rep.get('aligned', 0)} aligned, {len(rep.get('no_face', []))} without a face"
            reported = len(rep.get("unreadable", []))
        else:
            processed = "-"
        tried = len(bad) + (4 if name == "identify" else len(good))
        print(f"| {name} | {tried} | {reported} of {len(bad)} | {processed} | {int(crash)} | {int(rc is None)} | "
              f"{peak:.0f} | {secs:.1f} |", flush=True)


if __name__ == "__main__":
    main()
