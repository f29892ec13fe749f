import os
import shutil
from pathlib import Path

import pytest
import torch

from faceprint.data.synthetic import make_synthetic_faces
from faceprint.models import load_model
from faceprint.training import TrainConfig, train

# One pytest process: at most 2 threads (the CI machine has 2 cores; oversubscribed OpenMP runs 5-10x slower).
torch.set_num_threads(int(os.environ.get("FACEPRINT_TEST_THREADS", str(min(2, os.cpu_count() or 1)))))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LFW_DIR = SHARED / "data" / "lfw"


@pytest.fixture
def lfw_dir() -> Path:
    if not (LFW_DIR / "protocol" / "pairs.txt").exists():
        pytest.skip("../shared/data/lfw is not here")
    return LFW_DIR


@pytest.fixture
def photos() -> Path:
    """The 22 photos the package ships for the demo (6 people from LFW, one folder each): real photos for every
    photo-path test, present in every checkout."""
    from faceprint.demo import PHOTOS

    return PHOTOS


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A small trained model and the synthetic identities it was trained on (30) and never saw (10)."""
    root = tmp_path_factory.mktemp("synthetic")
    faces = make_synthetic_faces(root / "faces", identities=40, images_per_identity=8, size=64, seed=5)
    train_dir, unseen = root / "train", root / "unseen"
    train_dir.mkdir()
    unseen.mkdir()
    for i, d in enumerate(sorted(p for p in faces.iterdir() if p.is_dir())):
        d.rename((train_dir if i < 30 else unseen) / d.name)
    for d in (train_dir, unseen):  # both halves hold the generator's LFW-style crops, and say so
        shutil.copy(faces / "alignment.json", d / "alignment.json")
    cfg = TrainConfig(data=[str(train_dir)], backbone="resnet10_quarter", input_size=48, p=10, k=4, steps=150,
                      val_every=150, val_split=0.2, val_num_pairs=400, cache_dir=str(root / "cache"),
                      progress=False, threads=2, checkpoint_every=1000)
    train(cfg, root / "run")
    model = load_model(root / "run" / "best.pt")
    return {"model_path": root / "run" / "best.pt", "model": model, "train": train_dir, "unseen": unseen,
            "cache": root / "cache"}


def _postgres_bin(name: str) -> str | None:
    import glob
    import shutil as sh

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else sh.which(name)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server of our own, in a temporary folder, on a Unix socket only (no TCP port is opened).
    Skips where PostgreSQL is not installed (.ci/run installs Debian's package)."""
    import subprocess
    import tempfile

    pytest.importorskip("psycopg")
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="fp_pg_"))  # short: a socket path must fit in 107 bytes
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as Debian's postgres user
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", 5433 + os.getpid() % 1000

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    run(pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o",
        f"-k {root} -p {port} -c listen_addresses='' -F", "start")
    try:
        yield {"socket_dir": str(root), "port": port}
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh, empty database on the test server for each test: postgresql://postgres@/<db>?host=<socket dir>."""
    import re

    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:40] + f"_{os.getpid()}"
    admin = f"postgresql://postgres@/postgres?host={postgres_server['socket_dir']}&port={postgres_server['port']}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name}")
        con.execute(f"CREATE DATABASE {name}")
    yield admin.replace("/postgres?", f"/{name}?")
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
