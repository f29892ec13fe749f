"""A bounded load test of `faceprint serve` on loopback: 1, 4, 16 and 64 concurrent clients identifying one-face LFW
photos against a gallery of real face embeddings; prints, per level, requests, answers by status, throughput,
p50/p99 latency (of the 200s and of the 503s), and the server's memory (resident now, and its peak since start).

    python benchmarks/serve_load.py [--levels 1,4,16,64] [--seconds 20] [--faces 10000] [--max-queue 32]
                                    [--timeout 60] [--workdir DIR]

Each client loops for --seconds (at most 2,000 requests), one request at a time, and honours Retry-After on a 503
(waiting that long, capped at 2 s, as a well-behaved client would). The gallery is filled directly with the shipped
model's embeddings of LFW faces (cached in WORKDIR); probes are LFW photos in which the detector finds exactly one
face, sent as uploads. Only loopback is used.
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
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
KEY = "load-test-key-0123456789abcdef"


def gallery_embeddings(model, n: int, work: Path):  # type: ignore[no-untyped-def]
    cache = work / f"gallery_{model.fingerprint}_{n}.npz"
    if cache.exists():
        z = np.load(cache)
        return list(z["names"]), list(z["paths"]), z["emb"]
    from faceprint.embeddings import embed_photos

    files = sorted(LFW.rglob("*.jpg"))[:n]
    es = embed_photos(model, files, [f.parent.name for f in files], select="central", progress=True)
    names, paths, emb = es.identities, es.paths, es.embeddings
    np.savez(cache, names=np.array(names), paths=np.array(paths), emb=emb)
    return names, paths, emb


def one_face_probes(model, count: int, skip: set[str]) -> list[bytes]:  # type: ignore[no-untyped-def]
    """LFW photos of people not in the gallery's slice in which the detector finds exactly one face."""
    from faceprint.data.images import read_image
    from faceprint.pipeline import Pipeline

    pipe = Pipeline(model, select="all")
    out: list[bytes] = []
    for f in sorted(LFW.rglob("*.jpg"), reverse=True):
        if f.parent.name in skip:
            continue
        if len(pipe.faces(read_image(f), str(f))) == 1:
            out.append(f.read_bytes())
            if len(out) == count:
                break
    return out


def rss_kib(pid: int) -> tuple[int, int]:
    """(resident now, peak resident since start) of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,4,16,64", help="concurrent clients, one run per level")
    ap.add_argument("--seconds", type=float, default=20.0, help="how long each level runs")
    ap.add_argument("--faces", type=int, default=10_000)
    ap.add_argument("--max-queue", type=int, default=32, help="the server's --max-queue")
    ap.add_argument("--timeout", type=float, default=60.0, help="the server's --timeout")
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
    probes = one_face_probes(model, 100, set(names))
    db = work / "load.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with Gallery(db, model.fingerprint, model.config.embedding_size, model.config.distance) as g:
        g.enroll([(n, p, file_sha256(p), 0, e) for n, p, e in zip(names, paths, emb)])
        rows = len(g)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FACEPRINT_API_KEYS": f"{KEY} read load-test"}
    server = subprocess.Popen([sys.executable, "-m", "faceprint", "serve", "--gallery", str(db), "--port", str(port),
                               "--max-queue", str(args.max_queue), "--timeout", str(args.timeout)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, headers = f"http://127.0.0.1:{port}", {"X-API-Key": KEY}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        started = rss_kib(server.pid)
        print(f"Machine: {machine()}; gallery {rows:,} faces of LFW people (model {model.fingerprint}); probes: "
              f"{len(probes)} one-face LFW photos of other people; server --max-queue {args.max_queue} --timeout "
              f"{args.timeout:g}; {args.seconds:g} s per level; server resident after start "
              f"{started[0] / 1024:.0f} MiB\n")
        print("| clients | requests | 200 | 503 | other | 200s/s | p50 200 (ms) | p99 200 (ms) | p50 503 (ms) | "
              "server RSS (MiB) | server peak RSS (MiB) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for level in [int(v) for v in args.levels.split(",")]:
            results: list[tuple[float, int]] = []
            lock = threading.Lock()
            end = time.monotonic() + args.seconds

            def client(c: int) -> None:
                with httpx.Client(base_url=url, headers=headers, timeout=args.timeout + 30) as http:
                    for r in range(2000):
                        if time.monotonic() >= end:
                            return
                        photo = probes[(c * 7 + r) % len(probes)]
                        t = time.perf_counter()
                        try:
                            resp = http.post("/identify?k=1", files=[("image", ("probe.jpg", photo, "image/jpeg"))])
                            code, retry = resp.status_code, resp.headers.get("Retry-After")
                        except httpx.HTTPError:
                            code, retry = -1, None
                        with lock:
                            results.append((time.perf_counter() - t, code))
                        if code == 503:
                            time.sleep(min(2.0, float(retry or 1)))

            threads = [threading.Thread(target=client, args=(c,)) for c in range(level)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            codes = Counter(c for _, c in results)
            ok = np.array([d for d, c in results if c == 200]) * 1000
            shed = np.array([d for d, c in results if c == 503]) * 1000
            other = sum(n for c, n in codes.items() if c not in (200, 503))
            kinds = ", ".join(f"{c}: {n}" for c, n in codes.items() if c not in (200, 503))
            now, peak = rss_kib(server.pid)
            p = (lambda a, q: f"{np.percentile(a, q):.0f}" if len(a) else "-")
            print(f"| {level} | {len(results)} | {codes[200]} | {codes[503]} | {other}"
                  f"{f' ({kinds})' if other else ''} | {codes[200] / wall:.1f} | {p(ok, 50)} | {p(ok, 99)} | {p(shed, 50)} | {now / 1024:.0f} | "
                  f"{peak / 1024:.0f} |", flush=True)
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
