"""The training app: sample P x K, embed, mine, loss, update; validate, checkpoint, resume, explain.

Read top to bottom: `Trainer.__init__` builds data, model and optimiser; `run` is the loop; `train_step` is one
step; everything a killed run needs is in `checkpoint.pt`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as tdist
import yaml
from torch import nn
from tqdm import tqdm

from faceprint.applications.clustering import calibrate_clustering
from faceprint.data import (
    DecodedImages,
    FaceDataset,
    PKSampler,
    Preprocessing,
    read_lfw_people,
)
from faceprint.data.alignment import read_alignment
from faceprint.data.dataset import unlabelled_photos
from faceprint.errors import InputError, RunExistsError
from faceprint.evaluation import VerificationReport
from faceprint.evaluation.identification import calibrate_open_set
from faceprint.losses import EmbeddingDistillation, RelationalDistillation, TailDistillation, TripletLoss
from faceprint.miners import Miner, SemiHardMiner, Triplets, get_miner
from faceprint.models import (
    FaceEmbedder,
    ModelConfig,
    backbone_spec,
    load_model,
    save_model,
)
from faceprint.training.checkpoint import load_checkpoint, save_checkpoint
from faceprint.training.config import TrainConfig
from faceprint.training.ddp import (
    broadcast_flag,
    convert_sync_batchnorm,
    gather,
    init_from_env,
    local_threads,
)
from faceprint.training.optim import lr_factor, make_optimizer
from faceprint.training.plots import plot_curves
from faceprint.training.validation import PairSet, Validator, make_pairs
from faceprint.utils.runtime import cpu_has_native_bf16, set_threads, tune_malloc

log = logging.getLogger(__name__)

METRICS = ["step", "loss", "num_triplets", "frac_active", "frac_semi_hard", "mean_d_ap", "mean_d_an", "spread",
           "distill", "relation", "tail", "lr", "images_per_s", "val_accuracy", "val_val", "val_auc"]

COLLAPSE_ADVICE = (
    "The embeddings are collapsing towards one point (f(x) = constant): spread {spread:.4f}, loss {loss:.4f} vs "
    "margin {margin} over the last {window} steps. Usual remedies: lower the learning rate (lr), start with "
    "smaller batches (p, k) or semi-hard instead of batch-hard mining, and check labels and crops."
)


def preprocessing_for(roots: list[str], input_size: int, crop: float | None) -> Preprocessing:
    """The model's preprocessing: the alignment recorded by `faceprint align` in the data folders (else LFW-style
    crops, as LFW and the CelebA subset are), so the model file remembers how its faces were made."""
    records = {json.dumps(r, sort_keys=True) for r in (read_alignment(root) for root in roots)}
    if len(records) > 1:
        raise InputError(f"the training folders were aligned differently ({'; '.join(sorted(records))}); "
                         "train on folders made the same way")
    rec = json.loads(records.pop())
    pad = Preprocessing.pad
    if crop is None:
        crop = 0.6 if rec["method"] == "lfw" else 1 / (1 + pad)
    return Preprocessing(input_size=input_size, crop=crop, alignment=rec["method"], align_size=rec["size"],
                         margin=rec.get("margin", Preprocessing.margin))


def init_preprocessing(init: FaceEmbedder, c: TrainConfig) -> Preprocessing:
    """A student that starts from a model's weights sees faces as that model does: its preprocessing, unchanged."""
    pre = init.preprocessing
    if c.backbone != init.config.backbone and not hasattr(backbone_spec(c.backbone).build(pre.input_size), "inherit"):
        raise InputError(f"{c.init} is a {init.config.backbone} network: give backbone {init.config.backbone!r} "
                         f"or one that can start from it (got {c.backbone!r})")
    if c.embedding_size != init.config.embedding_size:
        raise InputError(f"{c.init} embeds to {init.config.embedding_size} numbers, not {c.embedding_size}")
    for name in ("input_size", "crop"):
        given = getattr(c, name)
        if given is not None and given != getattr(pre, name):
            raise InputError(f"{c.init} takes {name} {getattr(pre, name)}; leave {name} unset or give that")
    for root in c.data:
        method = read_alignment(root)["method"]
        if method != pre.alignment:
            raise InputError(f"{root}: faces aligned by {method!r}, but {c.init} expects {pre.alignment!r} "
                             f"(`faceprint align --method {pre.alignment.replace('_', '-')}` makes such a folder)")
    return pre


def read_exclude(path: str | Path | None) -> set[str]:
    """Identity names to keep out of training: one per line, or an LFW people file (names of every fold)."""
    if path is None:
        return set()
    path = Path(path)
    try:
        return {name for fold in read_lfw_people(path) for name, _ in fold}
    except (ValueError, IndexError):
        return {line.split()[0] for line in path.read_text().splitlines() if line.strip()}


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    best_step: int | None
    best_score: float | None
    report: VerificationReport | None
    collapsed: bool
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)


class OfflinePool:
    """Offline triplet selection (the paper's alternative): every n steps, embed a random subset of the training
    set with the latest weights (no gradient) and mine triplets there; training batches are then built from them."""

    def __init__(self, trainer: Trainer) -> None:
        self.t = trainer
        c = trainer.config
        k = min(c.k, 40)
        self.subset_sampler = PKSampler(trainer.labels, max(2, min(c.offline_subset // k, len(trainer.sampler.eligible))),
                                        k, small_identities=c.small_identities, seed=c.seed + 7919)
        self.triplets = np.zeros((0, 3), dtype=np.int64)
        self.cursor = 0
        self.stats: dict[str, float] = {}

    def refresh(self, step: int) -> None:
        idx = self.subset_sampler.batch(step)
        emb = torch.from_numpy(self.t.model.embed(self.t.images[self.t.good[idx]], batch_size=256))
        labels = torch.as_tensor(self.t.labels[idx])
        tri = self.t.miner(emb, labels)
        self.stats = dict(self.t.miner.stats)
        self.triplets = np.stack([idx[tri.anchor.numpy()], idx[tri.positive.numpy()], idx[tri.negative.numpy()]], 1)
        self.triplets = self.triplets[np.random.default_rng([self.t.config.seed, step]).permutation(len(self.triplets))]
        self.cursor = 0

    def next_batch(self, step: int) -> tuple[np.ndarray, Triplets]:
        c = self.t.config
        if len(self.triplets) == 0 or step % c.offline_every == 0 or self.cursor >= len(self.triplets):
            self.refresh(step)
        if len(self.triplets) == 0:
            return np.zeros(0, dtype=np.int64), Triplets.empty()
        take = self.triplets[np.arange(self.cursor, self.cursor + c.offline_triplets) % len(self.triplets)]
        self.cursor += c.offline_triplets
        uniq, inv = np.unique(take, return_inverse=True)
        inv = torch.as_tensor(inv.reshape(-1, 3))
        return uniq, Triplets(inv[:, 0], inv[:, 1], inv[:, 2])

    def state(self) -> dict[str, Any]:
        return {"triplets": torch.from_numpy(self.triplets), "cursor": self.cursor}

    def load(self, s: dict[str, Any]) -> None:
        self.triplets, self.cursor = s["triplets"].numpy(), int(s["cursor"])


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: str | Path, resume: bool = False) -> None:
        config.validate()
        self.config = c = config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = self.run_dir / "checkpoint.pt"
        if not resume and self.checkpoint_path.exists():
            raise RunExistsError(f"{self.run_dir} holds a run already: resume it, or use another run folder")
        tune_malloc()
        self.rank, self.world = init_from_env(c.dist_backend)
        self.main = self.rank == 0  # the one process that validates, calibrates, logs and writes files
        set_threads(c.threads or (local_threads() if self.world > 1 else None))
        if c.bf16 and cpu_has_native_bf16() is False:  # training runs on the CPU
            log.warning("--bf16 on a CPU without AVX512-BF16 or AMX: bfloat16 is emulated here and a step runs several "
                        "times slower than in float32 (measured ~10x); use --no-bf16 on this machine")
        batch = c.p * c.k + c.extra_negatives + (c.unlabelled_per_batch if c.unlabelled else 0)
        if batch % self.world:
            raise InputError(f"the batch ({batch} images) must split evenly over {self.world} processes")
        cache_dir = Path(c.cache_dir) if c.cache_dir else None
        if self.world > 1 and not self.main:
            tdist.barrier()  # rank 0 decodes the images into the cache first; the others then read it

        spec = backbone_spec(c.backbone)
        init = load_model(c.init) if c.init else None
        pre = (init_preprocessing(init, c) if init is not None
               else preprocessing_for(c.data, c.input_size or spec.input_size, c.crop))
        teacher = load_model(c.teacher) if c.teacher else None  # loaded once: targets, and the online teacher
        if teacher is not None and c.teacher_online:
            # checked before any image is decoded or embedded: a mismatch is found in a second, not after minutes
            self._check_online_teacher(teacher, pre)
        excluded = read_exclude(c.exclude)
        dataset = FaceDataset.from_folders(c.data, exclude=excluded, dedupe=c.dedupe)
        self.validator: Validator | None = None
        held_names: set[str] = set()
        # held-out faces, the readable ones among them, and their labels: for the open-set thresholds
        self.open_set: tuple[DecodedImages, np.ndarray, np.ndarray] | None = None
        if c.val_pairs:
            self.validator = Validator.from_lfw(c.val_pairs, c.val_dir, pre, c.far, cache_dir, c.progress)  # type: ignore[arg-type]
        elif c.val_split > 0:
            dataset, held_out = dataset.split_identities(c.val_split, c.seed)
            held_names = {held_out.identities[i] for i in np.unique(held_out.labels)}  # nor in the unlabelled photos
            pairs = make_pairs(held_out, c.val_num_pairs, c.seed)
            self.validator = Validator(PairSet.from_pairs(pairs), pre, c.far, cache_dir, c.progress, "held-out identities")
            held_images = DecodedImages(held_out.paths, pre.load, pre.stored_size, pre.to_dict(), cache_dir,
                                        progress=c.progress)
            keep = np.setdiff1d(np.arange(len(held_out)), held_images.bad)
            if len(np.unique(held_out.labels[keep])) >= 5:
                self.open_set = (held_images, keep, held_out.labels[keep])
        # with --exclude, photos that no person's folder holds could be anyone: refused
        unlabelled = unlabelled_photos(c.unlabelled, excluded | held_names, loose=c.exclude is None) if c.unlabelled \
            else []
        self.dataset = dataset
        self.paths = paths = dataset.paths + unlabelled  # labelled first: rows of `good` below n_labelled are labelled
        self.images = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), cache_dir, progress=c.progress)
        for i in self.images.bad:
            log.warning("left out of training: %s (%s)", paths[i], self.images.bad_reasons.get(i, "unreadable"))
        self.good = np.setdiff1d(np.arange(len(paths)), self.images.bad)
        self.labels = np.concatenate([dataset.labels, np.full(len(unlabelled), -1, dataset.labels.dtype)])[self.good]
        self.n_labelled = int(np.sum(self.good < len(dataset)))
        self.sampler = PKSampler(self.labels[: self.n_labelled], c.p, c.k, c.extra_negatives, c.small_identities,
                                 seed=c.seed, identity_power=c.identity_power)
        if unlabelled:
            log.info("%d unlabelled photos, %d per batch", len(self.good) - self.n_labelled, c.unlabelled_per_batch)
        self.teacher: tuple[torch.Tensor, torch.Tensor] | None = None  # (targets, has target) per good image
        if c.teacher:
            from faceprint.training.teacher import teacher_embeddings

            emb, ok = teacher_embeddings(teacher, [paths[i] for i in self.good], cache_dir, c.progress,
                                         c.teacher_input)
            shift = np.zeros(emb.shape[1], np.float32)
            if c.teacher_center and ok.any():  # the mean of this run's own training targets only
                shift = (c.teacher_center_fraction * emb[ok].mean(0)).astype(np.float32)
                emb = emb - shift
                emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
            self.teacher = torch.from_numpy(emb.astype(np.float32)), torch.from_numpy(ok)
            self.teacher_shift = torch.from_numpy(shift)  # the online teacher's targets are centred the same way
            log.info("teacher targets for %d of %d training images", int(ok.sum()), len(ok))
        self.teacher_net: FaceEmbedder | None = None  # the frozen teacher network, with teacher_online
        if teacher is not None and c.teacher_online:
            teacher.eval().requires_grad_(False)
            self.teacher_net = teacher.to(memory_format=torch.channels_last) if c.channels_last else teacher  # type: ignore[call-overload]
        if self.world > 1 and self.main:
            tdist.barrier()

        torch.manual_seed(c.seed)  # the initial weights
        info: dict[str, Any] = {
            "data": [str(d) for d in c.data], "identities": dataset.num_identities, "images": self.n_labelled,
            **({"unlabelled": {"folders": [str(d) for d in c.unlabelled], "images": len(self.good) - self.n_labelled}}
               if c.unlabelled else {}),
            "recipe": {k: v for k, v in c.to_dict().items() if k not in ("progress", "cache_dir")}}
        if init is not None:
            info["init"] = {"file": str(c.init), "fingerprint": init.fingerprint,
                            **{k: init.config.info[k] for k in ("source", "licence") if k in init.config.info}}
        self.model = FaceEmbedder(ModelConfig(
            backbone=c.backbone, embedding_size=c.embedding_size, preprocessing=pre, distance=c.distance,
            dropout=c.dropout, info=info))
        if init is not None and not (resume and self.checkpoint_path.exists()):
            self._init_from(init)
        if c.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.net: nn.Module = self.model  # what the training step calls: the model, or DDP around it
        if self.world > 1:
            convert_sync_batchnorm(self.model)
            self.net = nn.parallel.DistributedDataParallel(self.model, broadcast_buffers=False)
        self.optimizer = self._optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        miner_args: dict[str, Any] = {"margin": c.margin, "distance": c.distance}
        if c.miner == "semi_hard":
            miner_args |= {"policy": c.policy, "fallback": c.fallback}
        self.miner: Miner = get_miner(c.miner, **miner_args)
        self.loss_fn = TripletLoss(c.margin, c.distance, c.reduction)
        self.distill_fn = EmbeddingDistillation(c.distance)
        self.relation_fn = RelationalDistillation(c.distance)
        self.tail_fn = TailDistillation(c.tail_k, c.distance)
        self.offline = OfflinePool(self) if c.mining == "offline" else None

        self.step = 0
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.collapse_count = 0
        self.collapsed = False
        self.history: list[dict[str, float]] = []
        if resume and self.checkpoint_path.exists():
            self._restore()
        if self.main:
            (self.run_dir / "config.yaml").write_text(yaml.safe_dump(c.to_dict(), sort_keys=False))

    # -- set-up helpers ----------------------------------------------------------------------------------------
    def _check_online_teacher(self, teacher: FaceEmbedder, pre: Preprocessing) -> None:
        """An online teacher embeds the student's own input tensors: it must see faces as the student does."""
        mine, theirs = ({k: v for k, v in p.to_dict().items() if k != "pad"}  # pad: how much is stored, not seen
                        for p in (pre, teacher.preprocessing))
        if mine != theirs:
            raise InputError("teacher_online needs a student that sees faces as the teacher does (the same "
                             f"preprocessing): student {mine}, teacher {theirs}")
        if teacher.config.embedding_size != self.config.embedding_size:
            raise InputError(f"teacher_online needs the teacher's embedding size ({teacher.config.embedding_size})")

    @torch.no_grad()
    def _init_from(self, init: FaceEmbedder, sample: int = 1024) -> None:
        """The init model's weights; a head it lacks (batch norm after the projection) starts as a centring: the
        init network's embedding minus teacher_center_fraction (0 without teacher_center) of the mean projected
        face of a sample of training images, where a teacher's centred targets are when it is the teacher."""
        student = self.model
        if self.config.backbone == init.config.backbone:
            student.backbone.load_state_dict(init.backbone.state_dict())
        else:  # a smaller network of the same family: the blocks it has room for (it says which)
            student.backbone.inherit(init.backbone)
        student.project.load_state_dict(init.project.state_dict())
        if isinstance(init.bn, nn.BatchNorm1d):  # a faceprint-trained model: its head as it is
            student.bn.load_state_dict(init.bn.state_dict())
            return
        rows = np.random.default_rng(self.config.seed).permutation(len(self.good))[:sample]
        raw = []
        for s in range(0, len(rows), 64):
            x = student.preprocessing.to_tensor(self.images[self.good[np.sort(rows[s : s + 64])]])
            raw.append(init.eval().features(x).float())
        raw_t = torch.cat(raw)
        bn = student.bn
        fraction = self.config.teacher_center_fraction if self.config.teacher_center else 0.0
        mean = raw_t.mean(0)
        # batch norm removes all of a batch's mean while training: the bias puts back the part to keep
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(raw_t.var(0))
        bn.weight.copy_((bn.running_var + bn.eps).sqrt())
        bn.bias.copy_((1 - fraction) * mean)
        log.info("student starts from %s (%s), centred on %d training faces", self.config.init, init.fingerprint,
                 len(raw_t))

    def _optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(self.model.parameters(), self.config)

    def _lr_factor(self, step: int) -> float:
        return lr_factor(step, self.config)

    def _step_seed(self, step: int) -> int:
        return (self.config.seed * 1_000_003 + step) % (2**63)

    # -- the loop ----------------------------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(self._step_seed(step))
        torch.manual_seed(self._step_seed(step))  # dropout
        if self.offline is not None:
            idx, triplets = self.offline.next_batch(step)
        else:
            idx, triplets = self._batch(step), None
        if len(idx) == 0:  # offline mining found no triplet in its subset: nothing to learn from this step
            return {"step": step, "loss": float("nan"), "num_triplets": 0, "images_per_s": 0.0}
        if self.world > 1 and len(idx) % self.world:  # offline batches vary in size: repeat the last face to split
            idx = np.concatenate([idx, np.repeat(idx[-1:], self.world - len(idx) % self.world)])
        x = self.model.preprocessing.to_tensor(self.images[self.good[idx]], train=True, generator=gen, jitter=c.jitter)
        labels = torch.as_tensor(self.labels[idx])
        self.model.train()
        if self.world > 1:  # this process's contiguous share of the batch; the shares are gathered in rank order
            n = len(idx) // self.world
            x = x[self.rank * n : (self.rank + 1) * n]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=c.bf16):
            emb = self.net(x.contiguous(memory_format=torch.channels_last) if c.channels_last else x)
        if self.world > 1:
            emb = gather(emb.float())
        dist = self.loss_fn.distance.pairwise(emb)
        if triplets is None:
            if isinstance(self.miner, SemiHardMiner) and c.policy == "random":
                self.miner.generator = gen
            n = int((labels >= 0).sum())  # unlabelled faces come last and take no part in a triplet
            triplets = self.miner(emb[:n], labels[:n], dist=dist[:n, :n])
            mined = self.miner.stats
        else:  # the subset's mining figures, then this batch's by the miner's own definitions
            mined = {**self.offline.stats, **self.miner.record(dist, labels, triplets)}  # type: ignore[union-attr]
        guided: dict[str, float] = {}
        if self.teacher is None:
            loss = self.loss_fn(emb, triplets, dist=dist)
        else:
            target, has = self.teacher[0][idx], self.teacher[1][idx]
            if self.teacher_net is not None:
                target = self._teacher_views(x)
            loss, guided = self._guided_loss(target, has, emb, dist, labels, triplets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        row = {
            "step": step,
            **{k: mined.get(k, float("nan")) for k in ("frac_semi_hard", "spread", "mean_d_ap", "mean_d_an")},
            **self.loss_fn.stats,
            **guided,
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": len(idx) / (time.perf_counter() - t0),
        }
        return row

    def _batch(self, step: int) -> np.ndarray:
        """The sampler's P x K (+ extra negatives), then this step's unlabelled faces (rows of `good` from
        n_labelled on), drawn as a pure function of (seed, step) so a resumed run draws the same."""
        idx = self.sampler.batch(step)
        n_free = len(self.good) - self.n_labelled
        if n_free == 0:
            return idx
        rng = np.random.default_rng([self.config.seed, 3, step])
        free = self.n_labelled + rng.choice(n_free, min(self.config.unlabelled_per_batch, n_free), replace=False)
        return np.concatenate([idx, free])

    @torch.no_grad()
    def _teacher_views(self, x: torch.Tensor) -> torch.Tensor:
        """The online teacher's targets for this process's input tensors (gathered across processes like the
        student's embeddings), centred as the stored targets are and back on the unit sphere."""
        c = self.config
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=c.bf16):
            t = self.teacher_net(x.contiguous(memory_format=torch.channels_last) if c.channels_last else x)  # type: ignore[misc]
        t = t.float()
        if self.world > 1:
            t = gather(t)
        t = t - self.teacher_shift
        return t / t.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def _guided_loss(self, target: torch.Tensor, has: torch.Tensor, emb: torch.Tensor, dist: torch.Tensor,
                     labels: torch.Tensor, triplets: Triplets) -> tuple[torch.Tensor, dict[str, float]]:
        """Triplet loss (margins from the teacher if asked) + the teacher's embeddings and distances as targets."""
        c = self.config
        margins = None
        if c.teacher_margin > 0 and len(triplets):
            td = self.distill_fn.distance.pairwise(target)
            gap = td[triplets.anchor, triplets.negative] - td[triplets.anchor, triplets.positive]
            ok = has[triplets.anchor] & has[triplets.positive] & has[triplets.negative]
            margins = torch.where(ok, gap.clamp(0, c.teacher_margin), torch.full_like(gap, c.margin))
        loss = self.loss_fn(emb, triplets, dist=dist, margins=margins)
        distill = self.distill_fn(emb, target, has) if c.distill_weight > 0 else emb.sum() * 0
        relation = self.relation_fn(dist, target, has) if c.relation_weight > 0 else emb.sum() * 0
        n = int((labels >= 0).sum())  # the tail is about people: labelled faces only (they come first)
        tail = self.tail_fn(dist[:n, :n], target[:n], labels[:n], has[:n]) if c.tail_weight > 0 else emb.sum() * 0
        total = loss + c.distill_weight * distill + c.relation_weight * relation + c.tail_weight * tail
        return total, {"distill": float(distill.detach()), "relation": float(relation.detach()),
                       "tail": float(tail.detach())}

    def _check_collapse(self, row: dict[str, float]) -> None:
        c = self.config
        spread_low = row.get("spread", 1.0) < 0.02 * self.loss_fn.distance.diameter
        at_margin = row.get("num_triplets", 0) > 0 and abs(row.get("loss", 0.0) - c.margin) < 0.02 * max(c.margin, 1e-6)
        no_triplets = row.get("num_triplets", 0) == 0 and row.get("spread", 1.0) < 0.1
        self.collapse_count = self.collapse_count + 1 if (spread_low or at_margin or no_triplets) else 0
        if self.collapse_count == c.collapse_window:
            self.collapsed = True
            msg = COLLAPSE_ADVICE.format(spread=row.get("spread", float("nan")), loss=row.get("loss", float("nan")),
                                         margin=c.margin, window=c.collapse_window)
            log.warning(msg)
            tqdm.write("WARNING: " + msg)

    def validate(self) -> VerificationReport | None:
        if self.validator is None:
            return None
        rep = self.validator(self.model)
        score = {"val": rep.val_mean, "accuracy": rep.accuracy_mean, "auc": rep.auc}[self.config.select_by]
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_step = score, self.step
            self._save_model("best.pt", rep)
        return rep

    def _save_model(self, name: str, rep: VerificationReport | None) -> None:
        info = self.model.config.info
        info["step"] = self.step
        if rep is not None:
            # The accuracy threshold on the validation pairs becomes the model's default verification threshold;
            # `faceprint calibrate` refits it on a user's own pairs.
            self.model.config.threshold = rep.threshold
            info["validation"] = {"set": self.validator.name if self.validator else "", "summary": rep.summary(),
                                  "accuracy": rep.accuracy_mean, "val": rep.val_mean, "far": rep.far_target,
                                  "auc": rep.auc, "threshold": rep.threshold}
            self._calibrate_open_set()
        save_model(self.model, self.run_dir / name)

    def _calibrate_open_set(self) -> None:
        """Identification needs its own thresholds, by gallery size (see ModelConfig), and clustering its own cut:
        fit them on the held-out identities, with the weights being saved."""
        if self.open_set is None:
            return
        images, keep, labels = self.open_set
        emb = self.model.embed(images.array[keep], batch_size=256)
        try:
            cal = calibrate_open_set(emb, labels, far=self.config.open_set_far, distance=self.config.distance,
                                     seed=self.config.seed)
        except ValueError as e:
            log.warning("no open-set thresholds: %s", e)
            return
        self.model.config.open_set_thresholds = cal.table()
        self.model.config.open_set_far = cal.far_target
        self.model.config.info["open_set_calibration"] = {"set": "held-out identities", **cal.to_dict()}
        clus = calibrate_clustering(emb, labels, self.config.distance, seed=self.config.seed)
        self.model.config.cluster_threshold = clus.threshold
        self.model.config.info["cluster_calibration"] = {"set": "held-out identities", **clus.to_dict()}

    def run(self) -> TrainResult:
        """The loop. With several processes every one trains; only rank 0 validates, logs, plots and writes."""
        c = self.config
        start = time.monotonic()
        metrics_file = self.run_dir / "metrics.csv"
        if self.main:
            self._trim_metrics(metrics_file)
        new_file = not metrics_file.exists()
        report: VerificationReport | None = None
        stopped_early = False
        with open(metrics_file if self.main else os.devnull, "a", newline="") as f:
            writer = csv.DictWriter(f, METRICS, extrasaction="ignore")
            if new_file and self.main:
                writer.writeheader()
            bar = tqdm(total=c.steps, initial=self.step, desc="training", unit="step",
                       disable=not (c.progress and self.main))
            while self.step < c.steps:
                row = self.train_step(self.step)
                self.step += 1
                row["step"] = self.step
                self._check_collapse(row)
                if self.main and (self.step % c.val_every == 0 or self.step == c.steps):
                    report = self.validate()
                    if report is not None:
                        row |= {"val_accuracy": report.accuracy_mean, "val_val": report.val_mean, "val_auc": report.auc}
                        tqdm.write(f"step {self.step}: {report.summary()}")
                self.history.append(row)
                writer.writerow(row)
                bar.update(1)
                if self.step % c.log_every == 0:
                    bar.set_postfix(loss=f"{row.get('loss', float('nan')):.4f}", triplets=int(row.get("num_triplets", 0)),
                                    spread=f"{row.get('spread', float('nan')):.3f}", img_s=f"{row['images_per_s']:.0f}")
                out_of_time = c.max_minutes is not None and time.monotonic() - start > 60 * c.max_minutes
                out_of_time = out_of_time and self.step < c.steps
                if self.world > 1:  # rank 0's clock decides for everyone
                    out_of_time = broadcast_flag(out_of_time)
                if (self.collapsed and c.stop_on_collapse) or out_of_time:
                    stopped_early = True
                if out_of_time and self.main:
                    tqdm.write(f"time budget of {c.max_minutes} min spent at step {self.step}; stopping")
                if self.main:
                    if stopped_early and self.step % c.val_every != 0:
                        report = self.validate()
                    if self.step % c.checkpoint_every == 0 or self.step == c.steps or stopped_early:
                        f.flush()
                        self._checkpoint()
                if stopped_early:
                    break
            bar.close()
        if self.main:
            self._save_model("last.pt", report)
            if self.best_step is None:  # no validation set: the last model is the one to use
                self._save_model("best.pt", report)
            plot_curves(metrics_file, self.run_dir / "curves.png")
        if self.world > 1:
            tdist.barrier()  # the others leave when rank 0 has written everything
        return TrainResult(self.run_dir, self.step, self.best_step, self.best_score, report, self.collapsed,
                           stopped_early, self.history)

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _checkpoint(self) -> None:
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best_score": self.best_score,
            "best_step": self.best_step,
            "collapse_count": self.collapse_count,
            "config": self.config.to_dict(),
        }
        if self.offline is not None:
            state["offline"] = self.offline.state()
        save_checkpoint(self.checkpoint_path, state)

    def _restore(self) -> None:
        s = load_checkpoint(self.checkpoint_path)
        s["config"].setdefault("teacher_center_fraction", 1.0)  # runs from before the setting centred fully
        s["config"].setdefault("identity_power", 0.0)  # runs from before the setting drew identities uniformly
        s["config"].setdefault("teacher_online", False)  # runs from before the setting used stored targets
        saved = {k: v for k, v in s["config"].items() if k not in ("steps", "max_minutes", "progress", "val_every",
                                                                   "checkpoint_every", "log_every", "threads",
                                                                   "dist_backend")}
        now = {k: v for k, v in self.config.to_dict().items() if k in saved}
        changed = {k for k in saved if saved[k] != now[k]}
        if changed:
            raise InputError(f"resuming with different settings ({', '.join(sorted(changed))}) than the run in "
                             f"{self.run_dir}; use the same settings or another run folder")
        self.model.load_state_dict(s["model"])
        self.optimizer.load_state_dict(s["optimizer"])
        self.scheduler.load_state_dict(s["scheduler"])
        self.step, self.best_score, self.best_step = int(s["step"]), s["best_score"], s["best_step"]
        self.collapse_count = int(s["collapse_count"])
        if self.offline is not None and "offline" in s:
            self.offline.load(s["offline"])
        log.info("resumed %s at step %d", self.run_dir, self.step)

    def _trim_metrics(self, path: Path) -> None:
        """Rows logged after the last checkpoint belong to steps the resumed run will redo."""
        if not path.exists():
            return
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, METRICS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> TrainResult:
    """Train a FaceNet model; see TrainConfig for every setting."""
    return Trainer(config, run_dir, resume).run()
