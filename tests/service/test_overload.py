"""Overload: a bounded queue in front of the one engine thread, 503 with Retry-After past it, and a deadline that frees
the worker (the work stops at its next checkpoint; a job whose deadline passed while it queued never starts; a write
that began committing is waited for, so a 503 means nothing was written)."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from PIL import Image  # noqa: E402

from faceprint.demo import PHOTOS  # noqa: E402
from faceprint.service.engine import Overloaded, WorkQueue  # noqa: E402
from tests.service.server import KEY, _serve, _stop  # noqa: E402

H = {"X-API-Key": KEY}


def _gather(*coros):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*coros, return_exceptions=True)

    return asyncio.run(main())


def test_past_the_queue_a_request_is_refused_at_once():
    q = WorkQueue(depth=2, timeout_s=10)
    release = threading.Event()

    async def refused_fast():  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)  # after the two below are admitted
        t = time.monotonic()
        try:
            await q.run(lambda: None)
        except Overloaded as e:
            release.set()
            return e, time.monotonic() - t
        return None

    out = _gather(q.run(release.wait), q.run(lambda: "second"), refused_fast())
    assert out[0] is True and out[1] == "second"
    err, waited = out[2]
    assert isinstance(err, Overloaded) and err.retry_after >= 1 and waited < 0.05
    q.shutdown()


def test_a_deadline_stops_the_work_and_frees_the_worker():
    q = WorkQueue(depth=4, timeout_s=0.3)
    done: list[int] = []

    def long_job() -> None:
        for i in range(100):  # 2 s of work, with a checkpoint between steps
            q.checkpoint()
            time.sleep(0.02)
            done.append(i)

    started = time.monotonic()
    [err] = _gather(q.run(long_job))
    assert isinstance(err, Overloaded) and "stopped" in str(err)
    assert time.monotonic() - started < 1.0
    time.sleep(0.2)
    assert 5 <= len(done) < 40 and q.pending == 0  # it stopped at a checkpoint, long before its 100 steps
    q.shutdown()


def test_a_job_whose_deadline_passed_in_the_queue_never_starts():
    q = WorkQueue(depth=4, timeout_s=0.3)
    ran: list[str] = []

    def stubborn() -> None:  # no checkpoint: holds the worker past the next job's deadline
        time.sleep(0.6)
        ran.append("first")

    out = _gather(q.run(stubborn), q.run(lambda: ran.append("second")))
    assert all(isinstance(e, Overloaded) for e in out)
    time.sleep(0.5)
    assert ran == ["first"] and q.pending == 0
    q.shutdown()


def test_a_write_under_way_is_waited_for_not_abandoned():
    q = WorkQueue(depth=4, timeout_s=0.2)

    def write() -> str:
        time.sleep(0.1)
        with q.committing():
            time.sleep(0.4)  # the commit outlasts the deadline
            return "committed"

    assert _gather(q.run(write)) == ["committed"]

    def late_write() -> str:
        time.sleep(0.3)  # the deadline passes before the write begins: it never begins
        with q.committing():
            return "committed"

    [err] = _gather(q.run(late_write))
    assert isinstance(err, Overloaded)
    q.shutdown()


def _photo_files(person: str, n: int) -> list:
    return [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted((PHOTOS / person).glob("*.jpg"))[:n]]


def test_the_server_sheds_load_with_503_and_retry_after(tmp_path):
    proc, url = _serve(tmp_path / "g.db", "--max-queue", "2")
    try:
        r = httpx.post(f"{url}/enroll", headers=H, data={"name": "Laura"}, files=_photo_files("Laura_Bush", 1),
                       timeout=60)
        assert r.status_code == 200
        probe = sorted((PHOTOS / "Tony_Blair").glob("*.jpg"))[0].read_bytes()
        codes, retry = [], []

        def client() -> None:
            with httpx.Client(base_url=url, headers=H, timeout=60) as http:
                for _ in range(4):
                    resp = http.post("/identify", files=[("image", ("t.jpg", probe, "image/jpeg"))])
                    codes.append(resp.status_code)
                    if resp.status_code == 503:
                        retry.append(resp.headers.get("Retry-After"))

        threads = [threading.Thread(target=client) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(codes) <= {200, 503} and codes.count(200) >= 2 and codes.count(503) >= 1, codes
        assert all(v is not None and int(v) >= 1 for v in retry)
        assert httpx.get(f"{url}/people", headers=H, timeout=10).status_code == 200
    finally:
        _stop(proc)


def test_a_request_over_its_time_limit_stops_and_changes_nothing(tmp_path):
    proc, url = _serve(tmp_path / "g.db", "--timeout", "0.5")
    try:
        pile = httpx.post(f"{url}/piles", headers=H).json()["pile"]
        photos = []  # 16 photos of 1000 x 1000 px: seconds of detection, far over the 0.5 s limit
        for i, path in enumerate(sorted(PHOTOS.glob("*/*.jpg"))[:16]):
            out = io.BytesIO()
            Image.open(path).convert("RGB").resize((1000, 1000)).save(out, "JPEG")
            photos.append(("images", (f"big{i}.jpg", out.getvalue(), "image/jpeg")))
        t = time.monotonic()
        r = httpx.post(f"{url}/piles/{pile}/photos", headers=H, files=photos, timeout=60)
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1, r.text
        assert time.monotonic() - t < 2.0
        time.sleep(1.0)  # long enough for the stopped job to reach its next checkpoint
        after = httpx.get(f"{url}/piles/{pile}/clusters", headers=H, timeout=10)
        assert after.status_code == 200 and after.json()["open_faces"] == 0  # the pile is as it was
    finally:
        _stop(proc)
