"""A bounded load test of `faceprint serve` on loopback: 8 concurrent clients, a fixed number of requests each,
verify and identify against a 10,000-face gallery of real face embeddings, while another client enrolls; prints
requests/s, p50/p99 latency, errors, and the gallery rows lost (expected: 0).

    python benchmarks/serve_load.py [--clients 8] [--requests 40] [--faces 10000] [--workdir DIR]

The gallery is filled directly with the shipped model's embeddings of LFW faces (aligned as the model expects,
cached in WORKDIR), so that searches run over real embeddings; probes are LFW photos sent as uploads.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
KEY = "load-test-key-0123456789abcdef"


def gallery_embeddings(model, n: int, work: Path) -> tuple[list[str], list[str], np.ndarray]:  # type: ignore[no-untyped-def]
    cache = work / f"gallery_{model.fingerprint}_{n}.npz"
    if cache.exists():
        z = np.load(cache)
        return list(z["names"]), list(z["paths"]), z["emb"]
    from faceprint.embeddings import embed_photos

    files = sorted(LFW.rglob("*.jpg"))[:n + 200]
    es = embed_photos(model, files, [f.parent.name for f in files], select="central", progress=True)
    names, paths, emb = es.identities[:n], es.paths[:n], es.embeddings[:n]
    np.savez(cache, names=np.array(names), paths=np.array(paths), emb=emb)
    return names, paths, emb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=40, help="requests per client per route")
    ap.add_argument("--faces", type=int, default=10_000)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    import httpx

    import faceprint
    from faceprint.applications.identification import Gallery
    from faceprint.utils.io import file_sha256

    work = Path(args.workdir or tempfile.mkdtemp(prefix="serve_load_"))
    work.mkdir(parents=True, exist_ok=True)
    model = faceprint.load()
    names, paths, emb = gallery_embeddings(model, args.faces, work)
    db = work / "load.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with Gallery(db, model.fingerprint, model.config.embedding_size, model.config.distance) as g:
        g.enroll([(n, p, file_sha256(p), 0, e) for n, p, e in zip(names, paths, emb)])
        base_rows = len(g)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FACEPRINT_API_KEYS": KEY}
    server = subprocess.Popen([sys.executable, "-m", "faceprint", "serve", "--gallery", str(db), "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, headers = f"http://127.0.0.1:{port}", {"X-API-Key": KEY}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        people = sorted({p.parent.name for p in LFW.rglob("*_0002.jpg")})
        probes = [sorted((LFW / n).glob("*.jpg")) for n in people[:200]]
        pairs = [(p[0], p[1]) for p in probes]
        rng = np.random.default_rng(0)
        results: dict[str, list[tuple[float, int]]] = {"verify": [], "identify": []}
        lock = threading.Lock()

        def client(c: int, route: str) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
                for r in range(args.requests):
                    a, b = pairs[(c * args.requests + r) % len(pairs)]
                    t = time.perf_counter()
                    try:
                        if route == "verify":
                            resp = http.post("/verify", files=[("image1", (a.name, a.read_bytes())),
                                                               ("image2", (b.name, b.read_bytes()))])
                        else:
                            resp = http.post("/identify", files=[("image", (b.name, b.read_bytes()))])
                        code = resp.status_code
                    except httpx.HTTPError:
                        code = -1
                    with lock:
                        results[route].append((time.perf_counter() - t, code))

        # the writer: enrolls new people while the readers load the server
        fresh = [p for p in sorted(LFW.iterdir()) if p.name not in set(names)][:40]
        enrolled = {"ok": 0, "faces": 0}

        def writer() -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
                for person in fresh:
                    f = sorted(person.glob("*.jpg"))[0]
                    r = http.post("/enroll", data={"name": f"new_{person.name}"},
                                  files=[("images", (f.name, f.read_bytes()))])
                    if r.status_code == 200:
                        enrolled["ok"] += 1
                        enrolled["faces"] += r.json()["added"]

        print(f"Machine: {machine()}; gallery {base_rows:,} faces of LFW people (model {model.fingerprint}); "
              f"{args.clients} clients x {args.requests} requests per route, one route at a time, while one more "
              f"client enrolls {len(fresh)} new people\n")
        print("| route | requests | requests/s | p50 latency (ms) | p99 latency (ms) | errors (non-2xx) |")
        print("|---|---|---|---|---|---|")
        w = threading.Thread(target=writer)
        w.start()
        for route in ("verify", "identify"):
            threads = [threading.Thread(target=client, args=(c, route)) for c in range(args.clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            lat = np.array([x[0] for x in results[route]]) * 1000
            errors = sum(1 for x in results[route] if not 200 <= x[1] < 300)
            print(f"| {route} | {len(lat)} | {len(lat) / wall:.1f} | {np.median(lat):.0f} | "
                  f"{np.percentile(lat, 99):.0f} | {errors} |", flush=True)
        w.join()
        del rng
    finally:
        server.terminate()
        server.wait(30)
    with Gallery(db, model.fingerprint, model.config.embedding_size, model.config.distance, create=False) as g:
        rows = len(g)
        ok = g.db.execute("PRAGMA integrity_check").fetchone()[0]
    lost = base_rows + enrolled["faces"] - rows
    print(f"\nEnrolled during the load: {enrolled['ok']} of {len(fresh)} requests, {enrolled['faces']} faces; gallery "
          f"rows {base_rows:,} -> {rows:,}: rows lost {lost}; integrity check: {ok}.")


if __name__ == "__main__":
    main()
