"""The library's grouping and people list at 100,000 faces.

Real embeddings (a library made by benchmarks/library.py on LFW, its faces labelled by their folder where they are
the photo's LFW face; or benchmarks/scale.py's LFW + CelebA set) are grown to N faces as benchmarks/scale.py grows
them (copies with the signs of random halves of the principal components flipped: every distance inside a copy is a
real one). They are written into a new library as photos of one to three faces (faces of one photo are never one
person), then, each in a fresh process, timed with its peak memory:

  group      grouping every face (the first grouping of a library of N faces)
  regroup    grouping 1,000 new faces added to the grouped library (what a scan that adds photos does)
  people     the first page (100) and a page in the middle of the people list, as the page asks for them

    python benchmarks/library_scale.py [--from runs/library/A.db] [--faces 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _measure import current_rss_mb, machine, peak_rss_mb, run_isolated  # noqa: E402

from faceprint.applications.library.store import NewContent, NewFace, open_library  # noqa: E402


def real_from_library(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, person labels) of a library's faces: a face is its folder's person when it is the photo's face
    nearest the centre (LFW's rule); any other face is a person of its own."""
    with open_library(path, None, create=False) as lib:
        rows = lib._exec("SELECT f.id, f.embedding, f.box, (SELECT MIN(p.path) FROM lib_photos p WHERE "
                         "p.content_sha256 = f.content_sha256) FROM lib_faces f ORDER BY f.id").fetchall()
    best: dict[str, tuple[float, int]] = {}
    for k, (_, _, box, photo) in enumerate(rows):
        b = json.loads(box)
        off = max(abs((b[0] + b[2]) / 2 - 125), abs((b[1] + b[3]) / 2 - 125))
        lfw = photo is not None and photo.count("/") == 1 and not photo.startswith("mosaics/")
        if lfw and off <= 62.5 and off < best.get(photo, (np.inf, 0))[0]:
            best[photo] = (off, k)
    names = [f"face{k}" for k in range(len(rows))]
    for photo, (_, k) in best.items():
        names[k] = photo.split("/")[0]
    emb = np.frombuffer(b"".join(bytes(r[1]) for r in rows), np.float32).reshape(len(rows), -1)
    return emb.copy(), np.unique(names, return_inverse=True)[1]


def build(out: Path, emb: np.ndarray, fingerprint: str, seed: int = 0) -> np.ndarray:
    """A library of these faces as photos of 1-3 faces drawn at random (mostly strangers, as in a photo); returns
    the row of `emb` of each face in the order of the library's face ids."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 1, 1, 2, 3], size=len(emb))
    order = rng.permutation(len(emb))
    with open_library(out, fingerprint, emb.shape[1], "squared_l2") as lib:
        lib.set_root(out.parent)
        start, contents = 0, []
        for k, n in enumerate(sizes):
            if start >= len(emb):
                break
            faces = [NewFace(i, np.array([0, 0, 10, 10], np.float32), None, 1.0, emb[order[start + i]], None)
                     for i in range(min(n, len(emb) - start))]
            contents.append(NewContent(f"{k:064x}", [(f"p/{k}.jpg", 1, 1)], 10, 10, None, None, faces))
            start += len(faces)
            if len(contents) == 5000:
                lib.add(contents)
                contents = []
        lib.add(contents)
    return order


def case(kind: str, path: str, threshold: float) -> dict:
    base = current_rss_mb()
    lib = open_library(path, None, create=False)
    t0 = time.perf_counter()
    if kind in ("group", "regroup"):
        g = lib.group(threshold)
        return {"seconds": time.perf_counter() - t0, "extra_mb": peak_rss_mb() - base, **g}
    first = lib.people(0, 100)
    t_first = time.perf_counter() - t0
    n = len(lib.people())
    t1 = time.perf_counter()
    lib.people(n // 2, 100)
    return {"first_page": t_first, "middle_page": time.perf_counter() - t1, "people": n,
            "extra_mb": peak_rss_mb() - base, "shown": len(first)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", nargs=3, metavar=("KIND", "LIBRARY", "THRESHOLD"))
    ap.add_argument("--from", dest="source", default="runs/library/A.db")
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--out", default="runs/library_scale")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(case(args.case[0], args.case[1], float(args.case[2]))))
        return
    import faceprint
    from faceprint.evaluation.clustering import pairwise_scores
    from faceprint.thresholds import library_threshold
    from scale import grow

    model = faceprint.load(None)
    t = library_threshold(model)[0]
    real, labels = real_from_library(Path(args.source))
    emb, truth = grow(real, labels, args.faces + 1000)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lib_path = out / f"library_{args.faces}.db"
    for p in out.glob(f"library_{args.faces}.db*"):
        p.unlink()
    order = build(lib_path, emb[: args.faces], model.fingerprint)
    print(f"{machine()}\n{len(real):,} real faces from {args.source}, grown to {args.faces:,} (+1,000 added later); "
          f"cut {t:.4f}\n")
    group = run_isolated(Path(__file__), ["group", str(lib_path), str(t)], timeout=1800)
    with open_library(lib_path, None, create=False) as lib:
        data = lib.export()
    pred = np.empty(args.faces, np.int64)
    for p in data["people"]:
        for f in p["faces"]:
            pred[f["id"] - 1] = p["id"]
    for f in data["unassigned"]:
        pred[f["id"] - 1] = -f["id"]
    prec, rec, f1 = pairwise_scores(truth[: args.faces][order], pred)
    with open_library(lib_path, None, create=False) as lib:  # 1,000 new faces, as a scan adds them
        lib.add([NewContent(f"new{i:061x}", [(f"new/{i}.jpg", 1, 1)], 10, 10, None, None,
                            [NewFace(0, np.array([0, 0, 10, 10], np.float32), None, 1.0, e, None)])
                 for i, e in enumerate(emb[args.faces:])])
    regroup = run_isolated(Path(__file__), ["regroup", str(lib_path), str(t)], timeout=1800)
    people = run_isolated(Path(__file__), ["people", str(lib_path), str(t)])
    print("| step | time | extra memory | result |\n|---|---|---|---|")
    print(f"| group {args.faces:,} faces | {group['seconds']:.1f} s | {group['extra_mb']:,.0f} MB | "
          f"{group['new_people']:,} suggested people; pairwise P / R / F1 {prec:.3f} / {rec:.3f} / {f1:.3f} |")
    print(f"| group 1,000 new faces in it | {regroup['seconds']:.1f} s | {regroup['extra_mb']:,.0f} MB | "
          f"{regroup['moved']:,} faces placed, {regroup['new_people']:,} new suggestions |")
    print(f"| people list: first 100, then 100 from the middle | {people['first_page'] * 1000:.0f} ms, "
          f"{people['middle_page'] * 1000:.0f} ms | {people['extra_mb']:,.0f} MB | {people['people']:,} people |")
    shown = page_time(lib_path)
    if shown is not None:
        print(f"| the page: signed in to the first {shown[1]} people cards on screen (headless Chromium) | "
              f"{shown[0]:.2f} s | | {shown[2]} |")


def page_time(lib_path: Path) -> tuple[float, int, str] | None:
    """Seconds from signing in to the first page of people cards on screen, in headless Chromium against
    `faceprint serve --library` (None where Chromium or Selenium is missing)."""
    import shutil

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        return None
    chrome, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chrome is None or driver is None:
        return None
    sys.path.insert(0, str(HERE.parent))
    from tests.service.server import KEY, _serve, _stop

    proc, url = _serve(lib_path, store="--library")
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(driver), options=options)
    try:
        d.get(url)
        d.find_element(By.CSS_SELECTOR, '[data-testid="api-key"]').send_keys(KEY)
        t0 = time.perf_counter()
        d.find_element(By.CSS_SELECTOR, '[data-testid="sign-in"]').click()
        while time.perf_counter() - t0 < 60:
            n = len(d.find_elements(By.CSS_SELECTOR, '[data-testid="lib-person-card"]'))
            if n >= 60:
                took = time.perf_counter() - t0
                return took, n, d.find_element(By.CSS_SELECTOR, '[data-testid="lib-counts"]').text
            time.sleep(0.02)
        return float("inf"), 0, "no cards within 60 s"
    finally:
        d.quit()
        _stop(proc)


if __name__ == "__main__":
    main()
