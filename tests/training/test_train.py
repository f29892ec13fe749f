"""End-to-end training on synthetic faces: it learns, it resumes exactly, it survives bad files, it warns."""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceprint.data.synthetic import make_synthetic_faces
from faceprint.errors import InputError, RunExistsError
from faceprint.models import load_model
from faceprint.training import TrainConfig, Trainer, train


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return make_synthetic_faces(tmp_path_factory.mktemp("faces"), identities=24, images_per_identity=8, size=64)


def _config(faces, tmp_path, **kw) -> TrainConfig:
    base = dict(data=[str(faces)], backbone="resnet10_quarter", input_size=48, p=8, k=4, steps=40, val_every=1000,
                val_split=0.25, val_num_pairs=300, cache_dir=str(tmp_path / "cache"), progress=False, threads=1,
                checkpoint_every=5)
    base.update(kw)
    return TrainConfig(**base)


def test_loss_falls_and_verification_improves(faces, tmp_path):
    trainer = Trainer(_config(faces, tmp_path, steps=80, val_every=80), tmp_path / "run")
    before = trainer.validate()
    result = trainer.run()
    after = result.report
    losses = [h["loss"] for h in result.history if h.get("num_triplets", 0) > 0]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    assert after.accuracy_mean > before.accuracy_mean + 0.05 and after.auc > before.auc
    assert after.accuracy_mean > 0.8
    for name in ("best.pt", "last.pt", "checkpoint.pt", "metrics.csv", "curves.png", "config.yaml"):
        assert (tmp_path / "run" / name).exists()
    model = load_model(tmp_path / "run" / "best.pt")
    assert model.config.preprocessing.input_size == 48 and "validation" in model.config.info
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 81))


def test_resume_gives_the_same_result_as_one_run(faces, tmp_path):
    whole = train(_config(faces, tmp_path, steps=12), tmp_path / "whole")
    train(_config(faces, tmp_path, steps=7), tmp_path / "split")  # "killed" after a checkpoint at step 5 ...
    # ... simulate the kill: the checkpoint is from step 5, metrics.csv has rows up to 7.
    with pytest.raises(RunExistsError, match="holds a run already"):
        Trainer(_config(faces, tmp_path, steps=12), tmp_path / "split")
    resumed = train(_config(faces, tmp_path, steps=12), tmp_path / "split", resume=True)
    assert resumed.step == whole.step == 12
    a = load_model(tmp_path / "whole" / "last.pt").state_dict()
    b = load_model(tmp_path / "split" / "last.pt").state_dict()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k
    rows = list(csv.DictReader(open(tmp_path / "split" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    with pytest.raises(ValueError, match="different settings"):
        Trainer(_config(faces, tmp_path, steps=12, lr=0.5), tmp_path / "split", resume=True)


def test_unreadable_images_are_logged_and_skipped(faces, tmp_path, caplog):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(faces, data)
    (data / "id_000" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with caplog.at_level(logging.WARNING):
        result = train(_config(data, tmp_path, steps=5), tmp_path / "run")
    assert result.step == 5
    assert any("broken.jpg" in r.getMessage() for r in caplog.records)


def test_offline_mining_trains(faces, tmp_path):
    cfg = _config(faces, tmp_path, steps=6, mining="offline", offline_every=3, offline_subset=64,
                  offline_triplets=20, val_every=6)
    result = train(cfg, tmp_path / "run")
    assert result.step == 6 and any(h.get("num_triplets", 0) > 0 for h in result.history)


@pytest.mark.parametrize("miner", ["batch_hard", "batch_all"])
def test_other_miners_train(faces, tmp_path, miner):
    result = train(_config(faces, tmp_path, steps=3, miner=miner, reduction="mean_active"), tmp_path / "run")
    assert all(np.isfinite(h["loss"]) for h in result.history)


def test_collapse_alarm(faces, tmp_path, caplog):
    trainer = Trainer(_config(faces, tmp_path, collapse_window=5), tmp_path / "run")
    healthy = {"spread": 1.9, "loss": 0.1, "num_triplets": 50}
    collapsed = {"spread": 0.001, "loss": 0.2, "num_triplets": 50}
    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            trainer._check_collapse(collapsed)
        trainer._check_collapse(healthy)  # the window restarts
        assert not trainer.collapsed
        for _ in range(5):
            trainer._check_collapse(collapsed)
    assert trainer.collapsed
    assert any("collapsing" in r.getMessage() and "learning rate (lr)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("native", [True, False, None])
def test_bf16_on_a_cpu_that_only_emulates_it_is_warned_about(faces, tmp_path, caplog, monkeypatch, native):
    monkeypatch.setattr("faceprint.training.loop.cpu_has_native_bf16", lambda: native)
    with caplog.at_level(logging.WARNING):
        Trainer(_config(faces, tmp_path, bf16=True), tmp_path / "run")
    warned = any("--no-bf16" in r.getMessage() for r in caplog.records)
    assert warned is (native is False)  # unknown CPUs (not Linux) are not warned about


def test_bad_settings_are_refused(faces, tmp_path):
    with pytest.raises(ValueError, match="miner"):
        _config(faces, tmp_path, miner="hardest").validate()
    with pytest.raises(ValueError, match="P = 40"):
        Trainer(_config(faces, tmp_path, p=40), tmp_path / "run")
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.load(None, data=["x"], learning_rate=0.1)


def test_synthetic_demo_trains_and_reports(tmp_path, capsys):
    """The demo path for a checkout without a shipped model: draw faces, train briefly, verify unseen identities."""
    from faceprint.demo import run_synthetic_demo

    run_synthetic_demo(tmp_path, minutes=0.05)
    out = capsys.readouterr().out
    assert "held-out identities (never trained on)" in out and (tmp_path / "run" / "best.pt").exists()


def test_teacher_guided_training(faces, tmp_path):
    """A student with a teacher: targets computed once per file (a second run computes none), only for the files it
    trains on, and the student's embeddings move towards the teacher's."""
    from faceprint.training.teacher import teacher_embeddings

    teacher_run = train(_config(faces, tmp_path, steps=60), tmp_path / "teacher")
    teacher = str(teacher_run.run_dir / "best.pt")
    cfg = _config(faces, tmp_path, steps=60, teacher=teacher, teacher_input="crops", distill_weight=2.0,
                  relation_weight=1.0, teacher_margin=0.5, tail_weight=1.0, tail_k=3, seed=3)
    trainer = Trainer(cfg, tmp_path / "student")
    used = {str(trainer.dataset.paths[i]) for i in trainer.good}
    store = next((tmp_path / "cache").glob("teacher-*-crops.npz"))
    keys = list(np.load(store)["keys"])  # one row per file content: a hash of its bytes and its size
    expected = {f"{hashlib.blake2b(Path(p).read_bytes(), digest_size=16).hexdigest()}|{Path(p).stat().st_size}"
                for p in used}
    assert len(keys) == len(expected) and set(keys) == expected
    assert trainer.teacher[1].all()  # every synthetic crop has a target
    # teacher_center (default): the run's targets are the teacher's minus half their mean, back on the unit sphere
    raw, _ = teacher_embeddings(teacher, [trainer.dataset.paths[i] for i in trainer.good], tmp_path / "cache",
                                progress=False, input="crops")
    centred = raw - 0.5 * raw.mean(0)
    np.testing.assert_allclose(trainer.teacher[0].numpy(), centred / np.linalg.norm(centred, axis=1, keepdims=True),
                               atol=1e-5)
    result = trainer.run()
    distill = [h["distill"] for h in result.history]
    assert np.mean(distill[-10:]) < 0.7 * np.mean(distill[:10])
    assert all(np.isfinite(h["tail"]) and h["tail"] >= 0 for h in result.history)
    assert result.report.accuracy_mean > 0.75
    # A second call finds everything in the store: nothing is embedded or written again.
    before = store.stat().st_mtime_ns
    emb, ok = teacher_embeddings(load_model(teacher), sorted(used), tmp_path / "cache", progress=False, input="crops")
    assert ok.all() and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert store.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="need a teacher"):
        TrainConfig(data=[str(faces)], relation_weight=1.0).validate()


def test_online_teacher_targets_are_its_view_of_each_input(faces, tmp_path, monkeypatch):
    """teacher_online: a step's targets are the teacher's embedding of exactly the tensors the student is given
    (the same random window, flip and jitter), centred as the stored targets are; the teacher file is read once
    for both jobs; a teacher that sees faces differently from the student is refused."""
    import faceprint.training.loop as loop_module
    import faceprint.training.teacher as teacher_module
    from faceprint.training.teacher import teacher_embeddings

    teacher = str(train(_config(faces, tmp_path, steps=2), tmp_path / "teacher").run_dir / "best.pt")
    cfg = _config(faces, tmp_path, steps=3, teacher=teacher, teacher_input="crops", teacher_online=True,
                  relation_weight=1.0, tail_weight=1.0)
    loads: list = []

    def counted(path, *args, **kwargs):
        loads.append(str(path))
        return load_model(path, *args, **kwargs)

    for module in (loop_module, teacher_module):
        monkeypatch.setattr(module, "load_model", counted)
    trainer = Trainer(cfg, tmp_path / "student")
    assert loads.count(teacher) == 1
    monkeypatch.undo()
    seen: dict = {}
    net, guided = trainer.net, trainer._guided_loss

    def spy_net(x):
        seen["x"] = x.detach().clone()
        return net(x)

    def spy_guided(target, has, *rest):
        seen["target"] = target
        return guided(target, has, *rest)

    trainer.net, trainer._guided_loss = spy_net, spy_guided
    row = trainer.train_step(1)
    assert np.isfinite(row["loss"]) and row["distill"] > 0
    raw, ok = teacher_embeddings(teacher, [trainer.dataset.paths[i] for i in trainer.good], tmp_path / "cache",
                                 progress=False, input="crops")
    with torch.no_grad():
        expected = load_model(teacher).eval()(seen["x"]) - torch.from_numpy(0.5 * raw[ok].mean(0))
    expected = expected / expected.norm(dim=1, keepdim=True)
    torch.testing.assert_close(seen["target"], expected, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="sees faces as the teacher does"):
        Trainer(_config(faces, tmp_path, input_size=40, teacher=teacher, teacher_input="crops", teacher_online=True),
                tmp_path / "other")
    with pytest.raises(InputError, match="need a teacher"):
        TrainConfig(data=[str(faces)], teacher_online=True).validate()


def test_unlabelled_photos_are_taught_by_the_teacher_only(faces, tmp_path):
    """--unlabelled: photos without labels join every batch after the P x K faces, get teacher targets, are drawn
    the same on a resumed run, and never enter a triplet (the miner sees exactly the labelled rows); folders named
    in --exclude are left out, and with --exclude, photos outside any person's folder are refused."""
    from faceprint.data import FaceDataset
    from faceprint.data.synthetic import make_synthetic_faces
    from faceprint.miners import Triplets

    teacher = str(train(_config(faces, tmp_path, steps=2), tmp_path / "teacher").run_dir / "best.pt")
    train_part, held_part = FaceDataset.from_folders(faces).split_identities(0.25, TrainConfig().seed)
    held_name, kept_name = held_part.identities[0], train_part.identities[0]
    free = make_synthetic_faces(tmp_path / "free", identities=5, images_per_identity=4, size=64, seed=11)
    for i, name in enumerate(["Some_Test_Person", "loose", held_name, kept_name, "other"]):
        shutil.move(str(free / f"id_{i:03d}"), str(free / f"tmp_{i}"))
        shutil.move(str(free / f"tmp_{i}"), str(free / name))
    for i, f in enumerate(sorted((free / "loose").glob("*.jpg"))):  # loose photos, straight in the folder
        shutil.move(str(f), str(free / f"loose_{i}.jpg"))
    cfg = _config(faces, tmp_path, steps=4, teacher=teacher, teacher_input="crops", relation_weight=1.0,
                  tail_weight=1.0, unlabelled=[str(free)], unlabelled_per_batch=10)
    trainer = Trainer(cfg, tmp_path / "student")
    n = trainer.n_labelled
    # a person the validation split holds out is not trained on unlabelled either; another person's photos are
    assert {Path(trainer.paths[i]).parent.name for i in trainer.good[n:]} == {"Some_Test_Person", "free", kept_name,
                                                                              "other"}
    assert len(trainer.good) - n == 16
    assert (trainer.labels[:n] >= 0).all() and (trainer.labels[n:] == -1).all()
    assert trainer.teacher[1].all() and len(trainer.teacher[0]) == len(trainer.good)
    mined: list = []
    miner = trainer.miner

    class Spy:
        stats = property(lambda self: miner.stats)

        def __call__(self, emb, labels, dist=None):
            tri = miner(emb, labels, dist=dist)
            mined.append((emb.detach().clone(), labels.clone(), tri))
            return tri

    trainer.miner = Spy()
    row = trainer.train_step(1)
    assert np.isfinite(row["loss"]) and row["distill"] > 0 and np.isfinite(row["tail"])
    idx = trainer._batch(1)
    assert len(idx) == cfg.p * cfg.k + 10 and (idx[: cfg.p * cfg.k] < n).all() and (idx[cfg.p * cfg.k :] >= n).all()
    np.testing.assert_array_equal(idx, trainer._batch(1))  # a pure function of the step
    emb, labels, tri = mined[0]
    assert len(labels) == cfg.p * cfg.k and (labels >= 0).all()
    again = miner(emb, labels)
    for a, b in zip(tri, again):
        torch.testing.assert_close(a, b)
    assert isinstance(tri, Triplets) and int(torch.stack(list(tri)).max()) < cfg.p * cfg.k
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("Some_Test_Person\n")
    with pytest.raises(InputError, match="lie directly in it"):
        Trainer(_config(faces, tmp_path, teacher=teacher, teacher_input="crops", unlabelled=[str(free)],
                        exclude=str(exclude)), tmp_path / "refused")
    for f in free.glob("loose_*.jpg"):
        f.unlink()
    kept = Trainer(_config(faces, tmp_path, teacher=teacher, teacher_input="crops", unlabelled=[str(free)],
                           exclude=str(exclude)), tmp_path / "kept")
    paths = {Path(kept.paths[i]).parent.name for i in kept.good[kept.n_labelled :]}
    assert paths == {kept_name, "other"}
    with pytest.raises(InputError, match="give --teacher"):
        TrainConfig(data=[str(faces)], unlabelled=[str(free)]).validate()
    with pytest.raises(InputError, match="online mining"):
        TrainConfig(data=[str(faces)], unlabelled=[str(free)], teacher=teacher, mining="offline").validate()


def test_teacher_targets_follow_file_contents_not_paths_or_times(faces, tmp_path, caplog):
    """A copied, moved or re-timestamped dataset (a fresh checkout, a re-mounted share) is not embedded again; a
    changed photo is."""
    from faceprint.training.teacher import teacher_embeddings

    teacher = load_model(train(_config(faces, tmp_path, steps=2), tmp_path / "teacher").run_dir / "best.pt")
    files = sorted(Path(faces).rglob("*.jpg"))[:12]
    first, _ = teacher_embeddings(teacher, files, tmp_path / "cache", progress=False, input="crops")
    copy = tmp_path / "copy"
    shutil.copytree(faces, copy)
    moved = [copy / f.relative_to(faces) for f in files]
    for f in moved:
        os.utime(f, (1e9, 1e9))
    store = next((tmp_path / "cache").glob("teacher-*-crops.npz"))
    before = store.stat().st_mtime_ns
    again, _ = teacher_embeddings(teacher, moved, tmp_path / "cache", progress=False, input="crops")
    np.testing.assert_array_equal(again, first)
    assert store.stat().st_mtime_ns == before  # nothing embedded, nothing written
    moved[0].write_bytes(files[5].read_bytes())  # another photo under the first one's name: a known content
    changed, _ = teacher_embeddings(teacher, moved, tmp_path / "cache", progress=False, input="crops")
    np.testing.assert_array_equal(changed[0], first[5])
    assert store.stat().st_mtime_ns == before
    new = tmp_path / "new.jpg"  # a photo never seen: embedded and stored
    Image.open(moved[1]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(new)
    with caplog.at_level(logging.INFO, logger="faceprint.training.teacher"):
        teacher_embeddings(teacher, [new, *moved], tmp_path / "cache", progress=False, input="crops")
    assert any("embedding 1 of 13" in r.getMessage() for r in caplog.records)
    assert store.stat().st_mtime_ns != before


def test_validation_pairs_from_a_tiny_set_terminate():
    """Fewer different-identity pairs exist than asked for: all of them are used (this used to loop forever)."""
    from faceprint.data import FaceDataset
    from faceprint.training.validation import make_pairs

    ds = FaceDataset([Path(f"/x/{i}_{j}.jpg") for i in range(2) for j in range(3)], np.repeat([0, 1], 3), ["a", "b"])
    pairs = make_pairs(ds, 200)
    assert sum(p.same for p in pairs) == 6 and sum(not p.same for p in pairs) == 9
    assert len({(p.path1, p.path2) for p in pairs}) == 15
    with pytest.raises(ValueError, match="2 identities"):
        make_pairs(FaceDataset([Path("/x/1.jpg"), Path("/x/2.jpg")], np.array([0, 0]), ["a"]), 10)


def test_student_starts_from_an_imported_network(faces, tmp_path):
    """--init: the student keeps the network's weights and preprocessing, and a head the network lacks starts as a
    centring, so its first embedding is the network's own minus a fraction of the mean face (a numpy reference),
    in evaluation and (batch statistics) in training alike."""
    from faceprint.data import Preprocessing
    from faceprint.data.alignment import read_alignment, write_alignment
    from faceprint.errors import InputError
    from faceprint.models import FaceEmbedder, ModelConfig, save_model

    rec = read_alignment(faces)
    pre = Preprocessing(input_size=48, crop=0.8, pad=0.0, mean=(100.0, 110.0, 120.0), std=60.0,
                        alignment=rec["method"], align_size=rec["size"])
    torch.manual_seed(5)
    imported = FaceEmbedder(ModelConfig(backbone="resnet10_quarter", preprocessing=pre, embedding_bn=False,
                                        info={"source": "a test network", "licence": "public domain"})).eval()
    path = tmp_path / "imported.pt"
    save_model(imported, path)

    trainer = Trainer(_config(faces, tmp_path, init=str(path), input_size=None, steps=3,
                              teacher_center_fraction=0.7), tmp_path / "run")
    student = trainer.model
    assert student.preprocessing == pre and isinstance(student.bn, torch.nn.BatchNorm1d)
    for (name, a), b in zip(imported.backbone.state_dict().items(), student.backbone.state_dict().values()):
        assert torch.equal(a, b), name
    x = pre.to_tensor(trainer.images[trainer.good]).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        raw = imported.features(x).numpy().astype(np.float64)
        evaluated = student.eval()(x).numpy()
        student.train().backbone.eval()  # the head in training mode (batch statistics), this backbone's own BN not
        training = student(x).numpy()  # one batch of every image: its mean is the sample's
    centred = raw - 0.7 * raw.mean(0)
    np.testing.assert_allclose(evaluated, centred / np.linalg.norm(centred, axis=1, keepdims=True), atol=1e-4)
    np.testing.assert_allclose(training, evaluated, atol=1e-3)

    result = trainer.run()
    assert result.step == 3
    # A run from before teacher_center_fraction existed centred fully: resuming it asks for that setting.
    from faceprint.training.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    del ck["config"]["teacher_center_fraction"]
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", ck)
    with pytest.raises(InputError, match="teacher_center_fraction"):
        Trainer(_config(faces, tmp_path, init=str(path), input_size=None, steps=4), tmp_path / "run", resume=True)
    Trainer(_config(faces, tmp_path, init=str(path), input_size=None, steps=4, teacher_center_fraction=1.0),
            tmp_path / "run", resume=True)
    trained = load_model(tmp_path / "run" / "last.pt")
    info = trained.config.info["init"]
    assert info["fingerprint"] == imported.fingerprint and info["source"] == "a test network"
    # A model faceprint trained (it has the head): every weight taken as it is, nothing re-centred.
    again = Trainer(_config(faces, tmp_path, init=str(tmp_path / "run" / "last.pt"), input_size=None), tmp_path / "r0")
    for (name, a), b in zip(trained.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a.float(), b.float()), name

    with pytest.raises(InputError, match="give backbone 'resnet10_quarter' or one that can start from it"):
        Trainer(_config(faces, tmp_path, init=str(path), backbone="resnet10_half"), tmp_path / "r1")
    with pytest.raises(InputError, match="takes input_size 48"):
        Trainer(_config(faces, tmp_path, init=str(path), input_size=64), tmp_path / "r2")
    other = tmp_path / "other"
    (other / "a").mkdir(parents=True)
    write_alignment(other, "five_point", 112)
    with pytest.raises(InputError, match="faceprint align --method lfw"):
        Trainer(_config(faces, tmp_path, init=str(path), input_size=None, data=[str(other)]), tmp_path / "r3")


def test_a_smaller_student_starts_from_the_blocks_it_has_room_for(faces, tmp_path):
    """--init with a smaller network of the same family (dlib_resnet_slim from dlib_resnet_v1): the blocks it keeps
    are the init network's, the head centres, and it trains."""
    from faceprint.data import Preprocessing
    from faceprint.data.alignment import read_alignment
    from faceprint.models import FaceEmbedder, ModelConfig, save_model

    rec = read_alignment(faces)
    pre = Preprocessing(input_size=150, crop=1.0, pad=0.0, mean=(0.0, 0.0, 0.0), std=256.0,
                        alignment=rec["method"], align_size=rec["size"])
    torch.manual_seed(6)
    imported = FaceEmbedder(ModelConfig(backbone="dlib_resnet_v1", preprocessing=pre, embedding_bn=False)).eval()
    path = tmp_path / "dlib.pt"
    save_model(imported, path)
    trainer = Trainer(_config(faces, tmp_path, init=str(path), backbone="dlib_resnet_slim", input_size=None,
                              steps=2, p=4, k=2), tmp_path / "run")
    student = trainer.model
    full = dict(imported.backbone.state_dict())
    kept = [0, 1, 3, 4, 5, 7, 8, 10, 11, 13]
    for name, value in student.backbone.state_dict().items():
        if name.startswith("blocks."):
            i, rest = name.split(".", 2)[1:]
            name = f"blocks.{kept[int(i)]}.{rest}"
        assert torch.equal(value, full[name]), name
    assert torch.equal(student.project.weight, imported.project.weight)
    assert trainer.run().step == 2
