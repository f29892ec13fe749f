"""The web page's "sort a pile" in a real browser, timed: LFW photos of people with several photos each are uploaded
through the page (headless Chromium, Selenium) to a real `faceprint serve` on loopback; prints the time until the
clusters are on the page, until every thumbnail has loaded, the requests it took, and how well the clusters on the
page match the people (pairwise precision / recall / F1 against the photos' names, scoring each photo's first face
in the detector's order and leaving its other faces, mostly LFW's background people, unscored).

    python benchmarks/web_pile.py [--photos 300] [--detector yunet]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
KEY = "bench-key-0123456789abcdef"


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from faceprint.evaluation.clustering import clustering_report

    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--detector", default="yunet")  # the default detector (issue 36)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    people = sorted(d for d in LFW.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 5)
    rng.shuffle(people)
    chosen: list[Path] = []
    for d in people:
        chosen += sorted(d.glob("*.jpg"))[:8]
        if len(chosen) >= args.photos:
            break
    chosen = chosen[: args.photos]
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        env = {**os.environ, "FACEPRINT_API_KEYS": KEY}
        server = subprocess.Popen([sys.executable, "-m", "faceprint", "serve", "--gallery", f"{tmp}/g.db", "--port",
                                   str(port), "--detector", args.detector], env=env, stdout=subprocess.DEVNULL)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
            options.add_argument(a)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            url = f"http://127.0.0.1:{port}/"
            for _ in range(100):
                try:
                    driver.get(url)
                    if driver.find_elements(By.ID, "api-key"):
                        break
                except Exception:
                    pass
                time.sleep(0.3)
            driver.find_element(By.ID, "api-key").send_keys(KEY)
            driver.find_element(By.ID, "sign-in").click()
            WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "app").is_displayed())
            driver.find_element(By.ID, "pile-files").send_keys("\n".join(str(p) for p in chosen))
            driver.execute_script("performance.setResourceTimingBufferSize(100000); performance.clearResourceTimings()")
            t0 = time.perf_counter()
            driver.find_element(By.ID, "pile-submit").click()
            WebDriverWait(driver, 1800, 0.1).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="cluster"]'))
            shown = time.perf_counter() - t0
            driver.set_window_size(1280, max(1000, driver.execute_script("return document.body.scrollHeight")))
            WebDriverWait(driver, 600, 0.1).until(lambda d: d.execute_script(
                "return [...document.querySelectorAll('#clusters img')].every(i => i.complete && i.naturalWidth > 0)"))
            thumbs = time.perf_counter() - t0  # the window is as tall as the page: every thumbnail is in view
            requests = driver.execute_script("return performance.getEntriesByType('resource').length")
            faces = driver.execute_script("""return [...document.querySelectorAll('[data-testid="cluster"]')].map(
                (c, k) => [...c.querySelectorAll('[data-testid="cluster-face"]')].map(f => [k, f.title.split(' — ')[0],
                f.dataset.face]))""")
            status = driver.find_element(By.ID, "pile-text").text
        finally:
            driver.quit()
            server.terminate()
            server.wait(30)
    rows = [r for c in faces for r in c]
    # one face per photo scored: its first in the detector's order (the page lists photo names, not positions)
    seen, labels, truth = set(), [], []
    for k, photo, _ in sorted(rows, key=lambda r: int(r[2])):
        if photo in seen:
            continue
        seen.add(photo)
        labels.append(k)
        truth.append(photo.rsplit("_", 1)[0])
    rep = clustering_report(np.unique(truth, return_inverse=True)[1], np.array(labels))
    print(f"{machine()}\n{len(chosen)} LFW photos of {len(set(truth))} people, detector {args.detector}: {status}\n")
    print("| photos | faces | clusters | clusters on the page (s) | all thumbnails loaded (s) | requests | "
          "pairwise precision | recall | F1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {len(chosen)} | {len(rows)} | {len(faces)} | {shown:.1f} | {thumbs:.1f} | {requests} | "
          f"{rep.pairwise_precision:.4f} | {rep.pairwise_recall:.4f} | {rep.pairwise_f1:.4f} |")


if __name__ == "__main__":
    main()
