"""Training settings: defaults from the paper where it gives them, a YAML file, and command-line overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceprint.errors import InputError


@dataclass
class TrainConfig:
    # Data
    data: list[str] = field(default_factory=list)  # folder-per-identity roots, combined
    exclude: str | None = None  # file of identity names to leave out (one per line, or an LFW people file)
    cache_dir: str | None = None  # decode cache (default ~/.cache/faceprint or $FACEPRINT_CACHE)
    dedupe: bool = True  # a file name seen again under one identity in a later --data root is the same photo
    # Photos without identity labels (a folder of images, sub-folders read too; identity folders named in `exclude`
    # are left out): the teacher's embeddings teach them through the distillation and relational terms, and they
    # are never the anchor, positive or negative of a triplet, so two photos of one person do no harm. Needs a teacher.
    unlabelled: list[str] = field(default_factory=list)
    unlabelled_per_batch: int = 64  # unlabelled faces added to each batch when `unlabelled` is given
    # Model
    backbone: str = "resnet18_half"
    input_size: int | None = None  # default: the backbone's own size
    crop: float | None = None  # default: 0.6 for LFW-style images, the whole image for `faceprint align` output
    embedding_size: int = 128
    dropout: float = 0.0
    distance: str = "squared_l2"
    # Start from the weights of a faceprint model file (e.g. `faceprint import dlib`) instead of random ones. The
    # network's input stays as those weights expect: its preprocessing is taken, `backbone` must name its network,
    # and the training folders must be aligned its way. An imported network without a batch-normalised head gets one,
    # set to start as its centred embedding (see Trainer._init_from).
    init: str | None = None
    # Batches: P identities x K images (the paper: ~45 x 40 = 1,800)
    p: int = 45
    k: int = 40
    extra_negatives: int = 0
    small_identities: str = "replacement"
    identity_power: float = 0.0  # 0: identities in uniform passes; > 0: drawn with weight (images)^power
    jitter: float = 0.2  # colour jitter strength of the training augmentation
    # Triplet selection and loss
    margin: float = 0.2
    miner: str = "semi_hard"  # semi_hard | batch_hard | batch_all
    policy: str = "hardest"  # semi-hard negative: hardest | random
    fallback: str = "drop"  # pairs without a semi-hard negative: drop | closest_farther | hardest | tf_addons
    reduction: str = "mean"  # mean | mean_active | sum
    mining: str = "online"  # online | offline
    offline_every: int = 200  # offline mining: re-mine every n steps ...
    offline_subset: int = 1800  # ... on this many images embedded with the current weights
    offline_triplets: int = 300  # triplets per training batch in offline mode
    # Teacher guidance: a faceprint model file (e.g. from `faceprint import dlib`) whose embeddings of the training
    # images guide the student; its weights and margins are experiments (docs/experiments.md)
    teacher: str | None = None
    teacher_input: str = "photos"  # photos: the teacher detects and aligns each image its own way; crops: as they are
    # Subtract a fraction of the mean of the teacher's training embeddings and renormalise: a teacher whose faces fill
    # a narrow cone (dlib's: impostors at squared distance ~0.33) spreads out over the sphere, so a student at the
    # cone's centre no longer scores well and the triplet margin means something. All of the mean (fraction 1)
    # spreads most (impostors ~2.0) but costs the teacher itself 0.55 points of LFW and 15 of VAL@FAR=1e-3: faces
    # near the mean get noisy directions. Half of it keeps the teacher's LFW figures (98.97%, VAL 95.9%) with
    # impostors at ~0.88 and the same person at ~0.24 (docs/experiments.md).
    teacher_center: bool = True
    teacher_center_fraction: float = 0.5
    distill_weight: float = 1.0  # x mean d(student, teacher) per face (same embedding size needed)
    relation_weight: float = 0.0  # x mean (d_s - d_t)^2 over the batch's pairs
    teacher_margin: float = 0.0  # > 0: each triplet's margin is the teacher's d(a,n) - d(a,p), clipped to [0, this]
    tail_weight: float = 0.0  # x mean squared shortfall vs the teacher on same-person pairs and nearest strangers
    tail_k: int = 5  # nearest strangers per anchor (in the student's space) that tail_weight looks at
    # The teacher embeds each step's views as the student sees them (the same random window, flip and colour
    # jitter), instead of one stored target per file: consistent targets, as "patient and consistent" distillation
    # (Beyer et al., CVPR 2022) found matters. One teacher forward pass per step; needs the student's preprocessing.
    teacher_online: bool = False
    # Optimisation (the paper: AdaGrad, lr 0.05)
    optimizer: str = "adagrad"  # adagrad | adam | sgd
    lr: float = 0.05
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"  # constant | cosine | step
    warmup_steps: int = 0
    steps: int = 2000
    max_minutes: float | None = None  # stop early (after a checkpoint) when this wall time is spent
    # Validation on held-out identities
    val_pairs: str | None = None  # LFW-format pairs file (e.g. pairsDevTest.txt) ...
    val_dir: str | None = None  # ... and its image folder
    val_split: float = 0.1  # else hold out this fraction of training identities and make pairs from them
    val_num_pairs: int = 3000  # positive + negative pairs made from held-out identities
    val_every: int = 200
    # Keep the best model by: auc (default: threshold-free and stable) | accuracy | val (VAL@FAR: with ~1,500
    # impostor pairs it hinges on one or two pairs, and picked step 1,500 of 7,515 in a run whose later steps were better)
    select_by: str = "auc"
    far: float = 1e-3
    open_set_far: float = 0.01  # open-set thresholds fitted on held-out identities let this fraction of strangers in
    # Run
    seed: int = 0
    threads: int | None = None  # default: all cores, shared out among the processes of this machine under torchrun
    dist_backend: str = "auto"  # under torchrun: auto (NCCL with GPUs, gloo on CPUs) | gloo | nccl
    bf16: bool = False  # bf16 autocast for the network (mining and loss stay fp32)
    channels_last: bool = True
    checkpoint_every: int = 100
    log_every: int = 10
    collapse_window: int = 50  # steps of a collapsed-looking batch before the alarm
    stop_on_collapse: bool = False
    progress: bool = True

    def validate(self) -> None:
        from faceprint.distances.distance import DISTANCES
        from faceprint.miners import MINERS
        from faceprint.training.optim import OPTIMIZERS, SCHEDULES

        choices = {
            "miner": tuple(MINERS),
            "mining": ("online", "offline"),
            "optimizer": tuple(OPTIMIZERS),
            "schedule": tuple(SCHEDULES),
            "distance": tuple(DISTANCES),
            "select_by": ("val", "accuracy", "auc"),
            "teacher_input": ("photos", "crops"),
            "dist_backend": ("auto", "gloo", "nccl"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not self.data:
            raise InputError("no training data: give at least one data folder")
        if self.steps < 1 or self.p < 2 or self.k < 2:
            raise InputError("need steps >= 1, p >= 2 and k >= 2")
        if self.teacher is None and (self.teacher_margin > 0 or self.relation_weight > 0 or self.tail_weight > 0
                                     or self.teacher_online):
            raise InputError("teacher_margin, relation_weight, tail_weight and teacher_online need a teacher model")
        if self.unlabelled:
            if self.teacher is None:
                raise InputError("unlabelled photos teach only through a teacher's embeddings: give --teacher")
            if self.mining == "offline":
                raise InputError("unlabelled photos need online mining (offline batches are made of triplets)")
            if self.distill_weight == 0 and self.relation_weight == 0:
                raise InputError("unlabelled photos teach only through distill_weight or relation_weight; both are 0")
            if self.unlabelled_per_batch < 1:
                raise InputError(f"unlabelled_per_batch must be >= 1, got {self.unlabelled_per_batch}")
        if not 0 <= self.teacher_center_fraction <= 1:
            raise InputError(f"teacher_center_fraction must be in [0, 1], got {self.teacher_center_fraction}")
        if min(self.distill_weight, self.relation_weight, self.teacher_margin, self.tail_weight) < 0:
            raise InputError("distill_weight, relation_weight, teacher_margin and tail_weight must be >= 0")
        if self.tail_k < 1:
            raise InputError(f"tail_k must be >= 1, got {self.tail_k}")
        if (self.val_pairs is None) != (self.val_dir is None):
            raise InputError("val_pairs and val_dir go together")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> TrainConfig:
        """Defaults, then the YAML file, then overrides (None means: not given)."""
        values: dict[str, Any] = {}
        if path is not None:
            import yaml  # faceprint[train]

            loaded = yaml.safe_load(Path(path).read_text()) or {}
            if not isinstance(loaded, dict):
                raise InputError(f"{path}: expected a mapping of settings")
            values.update(loaded)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InputError(f"unknown training settings: {', '.join(sorted(unknown))}")
        for key in ("data", "unlabelled"):
            if isinstance(values.get(key), str):
                values[key] = [values[key]]
        return cls(**values)
