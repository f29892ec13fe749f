"""Training on 2 processes (torch.distributed, gloo) equals training on 1: same triplets, loss and update, for the
three miners; a run resumes on another number of processes; a batch that does not split evenly is refused."""

from __future__ import annotations

import multiprocessing
import os
import socket
import traceback

import numpy as np
import pytest
import torch

from faceprint.data.synthetic import make_synthetic_faces
from faceprint.models import load_model
from faceprint.training import TrainConfig, Trainer


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return make_synthetic_faces(tmp_path_factory.mktemp("ddp_faces"), identities=10, images_per_identity=6, size=64,
                                seed=7)


def _config(faces, cache, **kw) -> dict:
    base = dict(data=[str(faces)], backbone="resnet10_quarter", input_size=48, p=4, k=3, steps=3, val_split=0.0,
                cache_dir=str(cache), progress=False, threads=1, checkpoint_every=2, jitter=0.2,
                # SGD: an update proportional to the gradient. AdaGrad moves every weight by about lr on its first
                # steps whatever the gradient, so float noise on a weight whose true gradient is 0 (a batch-norm bias
                # right before another batch norm) becomes a visible difference; its losses still match (1e-6).
                optimizer="sgd", lr=0.01, momentum=0.9)
    return base | kw


def _rank(rank: int, world: int, port: int, cfg: dict, run: str, resume: bool, errors) -> None:  # type: ignore[no-untyped-def]
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    try:
        Trainer(TrainConfig(**cfg), run, resume=resume).run()
    except BaseException:  # noqa: BLE001
        errors.put(f"rank {rank}: {traceback.format_exc()}")
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _distributed(cfg: dict, run, world: int = 2, resume: bool = False) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, world, port, cfg, str(run), resume, errors)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems and all(p.exitcode == 0 for p in procs), "\n".join(problems)


def _largest_difference(a, b) -> float:  # type: ignore[no-untyped-def]
    sa, sb = load_model(a).state_dict(), load_model(b).state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k].float() - sb[k].float()).abs().max()) for k in sa if sa[k].is_floating_point())


@pytest.mark.parametrize("miner", ["semi_hard", "batch_hard", "batch_all"])
def test_two_processes_update_as_one(faces, tmp_path, miner):
    cfg = _config(faces, tmp_path / "cache", miner=miner)
    Trainer(TrainConfig(**cfg), tmp_path / "one").run()
    _distributed(cfg, tmp_path / "two")
    before = _largest_difference(tmp_path / "one" / "last.pt", tmp_path / "two" / "last.pt")
    assert before < 2e-4, before
    # and the runs really moved: the weights differ from a fresh model's by much more than that
    fresh = tmp_path / "fresh"
    Trainer(TrainConfig(**(cfg | {"steps": 1, "lr": 0.0})), fresh).run()
    assert _largest_difference(tmp_path / "one" / "last.pt", fresh / "last.pt") > 100 * max(before, 1e-6)
    # the loss and statistics logged by rank 0 are the single process's
    import csv

    rows = [list(csv.DictReader(open(tmp_path / r / "metrics.csv"))) for r in ("one", "two")]
    for a, b in zip(*rows):
        assert a["num_triplets"] == b["num_triplets"]
        np.testing.assert_allclose(float(a["loss"]), float(b["loss"]), rtol=1e-4, atol=1e-6)


def test_online_teacher_on_two_processes_updates_as_one(faces, tmp_path):
    """--teacher-online: each process embeds its own share of the views; gathered, they are the one process's."""
    cfg = _config(faces, tmp_path / "cache")
    Trainer(TrainConfig(**(cfg | {"steps": 1, "lr": 0.0})), tmp_path / "teacher").run()
    cfg |= {"teacher": str(tmp_path / "teacher" / "last.pt"), "teacher_input": "crops", "teacher_online": True,
            "distill_weight": 1.0, "relation_weight": 1.0}
    Trainer(TrainConfig(**cfg), tmp_path / "one").run()
    _distributed(cfg, tmp_path / "two")
    assert _largest_difference(tmp_path / "one" / "last.pt", tmp_path / "two" / "last.pt") < 2e-4
    import csv

    rows = [list(csv.DictReader(open(tmp_path / r / "metrics.csv"))) for r in ("one", "two")]
    for a, b in zip(*rows):
        np.testing.assert_allclose([float(a[k]) for k in ("loss", "distill", "relation")],
                                   [float(b[k]) for k in ("loss", "distill", "relation")], rtol=1e-4, atol=1e-6)
        assert float(a["distill"]) > 0


def test_resume_on_another_number_of_processes(faces, tmp_path):
    cfg = _config(faces, tmp_path / "cache")
    Trainer(TrainConfig(**cfg), tmp_path / "one").run()
    _distributed(cfg | {"steps": 2}, tmp_path / "mixed")  # 2 processes for 2 steps ...
    Trainer(TrainConfig(**cfg), tmp_path / "mixed", resume=True).run()  # ... then 1 process to step 3
    assert _largest_difference(tmp_path / "one" / "last.pt", tmp_path / "mixed" / "last.pt") < 2e-4


def test_uneven_batch_is_refused(faces, tmp_path):
    cfg = _config(faces, tmp_path / "cache", p=3, k=3)  # 9 images over 2 processes
    with pytest.raises(AssertionError, match="split evenly"):
        _distributed(cfg, tmp_path / "uneven")
    assert torch.distributed.is_available()


def test_train_command_shorthand(faces, tmp_path):
    """`faceprint train --nproc-per-node 2` runs torchrun; rank 0 alone writes the run folder and speaks."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "faceprint", "train", "--nproc-per-node", "2", "--data", str(faces),
                          "--out", str(tmp_path / "run"), "--backbone", "resnet10_quarter", "--input-size", "48",
                          "--p", "4", "--k", "3", "--steps", "4", "--val-split", "0.3", "--val-num-pairs", "60",
                          "--val-every", "2", "--cache-dir", str(tmp_path / "cache"), "--no-progress"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("trained 4 steps") == 1
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4"]
    load_model(tmp_path / "run" / "best.pt")


def test_offline_mining_on_two_processes(faces, tmp_path):
    """Offline batches vary in size (the faces of n triplets): they are padded to split evenly, and the run ends."""
    cfg = _config(faces, tmp_path / "cache", mining="offline", offline_every=2, offline_subset=24,
                  offline_triplets=5, steps=4)
    _distributed(cfg, tmp_path / "offline")
    steps = [r.split(",")[0] for r in (tmp_path / "offline" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4"]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _rank_of(pid: int) -> str | None:
    try:
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except OSError:
        return None
    return next((e[5:].decode() for e in env if e.startswith(b"RANK=")), None)


def test_a_rank_that_dies_ends_the_job(faces, tmp_path):
    """Kill one rank mid-run: the job ends soon with torchrun's failure summary, no process of it left hanging."""
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    job = subprocess.Popen([sys.executable, "-m", "faceprint", "train", "--nproc-per-node", "2", "--data", str(faces),
                            "--out", str(run), "--backbone", "resnet10_quarter", "--input-size", "48", "--p", "4",
                            "--k", "3", "--steps", "100000", "--val-split", "0", "--checkpoint-every", "1",
                            "--cache-dir", str(tmp_path / "cache"), "--no-progress"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (run / "checkpoint.pt").exists():  # training is under way on both ranks
            assert job.poll() is None and time.time() < deadline, job.communicate()[1][-2000:]
            time.sleep(0.5)
        victim = next(p for p in _descendants(job.pid) if _rank_of(p) == "1")
        family = _descendants(job.pid)
        t0 = time.time()
        os.kill(victim, signal.SIGKILL)
        _, err = job.communicate(timeout=120)
        took = time.time() - t0
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0 and took < 60, (job.returncode, took)
    assert "FAILED" in err or "ChildFailedError" in err, err[-2000:]
    time.sleep(1)
    alive = [p for p in family if os.path.exists(f"/proc/{p}") and "Z" not in open(f"/proc/{p}/stat").read().split()[2]]
    assert alive == [], f"processes of the job still running: {alive}"
