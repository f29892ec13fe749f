"""P x K batches: P identities with K images each, the layout online triplet mining needs."""

from __future__ import annotations

import numpy as np

from faceprint.errors import InputError

SMALL_IDENTITY_POLICIES = ("replacement", "skip")


class PKSampler:
    """Batch `step` is a pure function of (seed, step), so a resumed run draws exactly the batches it would have.

    Identities are visited in a fresh random order each pass ("epoch" over identities), P per batch, so every
    identity is seen equally often. An identity with fewer than K images either has its images repeated
    (sampling with replacement, after using each image once) or is never drawn ("skip"). Identities with fewer
    than `min_images` images (default 2: one image gives no positive pair) are not drawn as batch identities but
    can still appear as extra negatives.

    `identity_power` > 0 draws a batch's P identities at random with weight (images)^power instead: at 1, each
    identity as often as its images. Uniform passes make an identity with 2 photos as frequent as one with 50; when
    thousands of 2-3-photo people join a few hundred well-photographed ones, they fill most of every batch with
    augmented repeats (docs/experiments.md, run 6).
    """

    def __init__(
        self,
        labels: np.ndarray,
        p: int,
        k: int,
        extra_negatives: int = 0,
        small_identities: str = "replacement",
        min_images: int = 2,
        seed: int = 0,
        identity_power: float = 0.0,
    ) -> None:
        if p < 1 or k < 1 or extra_negatives < 0:
            raise InputError(f"need p >= 1, k >= 1, extra_negatives >= 0; got p={p}, k={k}, extra={extra_negatives}")
        if not 0 <= identity_power <= 4:
            raise InputError(f"identity_power must be in [0, 4], got {identity_power}")
        if small_identities not in SMALL_IDENTITY_POLICIES:
            raise InputError(f"small_identities must be one of {SMALL_IDENTITY_POLICIES}, got {small_identities!r}")
        self.labels = np.asarray(labels)
        self.p, self.k, self.extra = p, k, extra_negatives
        self.seed = seed
        order = np.argsort(self.labels, kind="stable")
        ids, starts, counts = np.unique(self.labels[order], return_index=True, return_counts=True)
        self._members = {int(i): order[s : s + c] for i, s, c in zip(ids, starts, counts)}
        need = max(min_images, k if small_identities == "skip" else 1)
        self.eligible = ids[counts >= need].astype(np.int64)
        if len(self.eligible) < p:
            raise InputError(
                f"P = {p} identities per batch, but only {len(self.eligible)} identities have >= {need} images"
            )
        self.identity_power = identity_power
        weights = counts[counts >= need].astype(np.float64) ** identity_power
        self.identity_weights = weights / weights.sum()

    @property
    def batch_size(self) -> int:
        return self.p * self.k + self.extra

    @property
    def steps_per_epoch(self) -> int:
        """Batches that visit every identity at least once."""
        return -(-len(self.eligible) // self.p)

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def _identities(self, step: int) -> np.ndarray:
        n = len(self.eligible)
        if self.identity_power > 0:
            return self.eligible[self._rng(0, step).choice(n, self.p, replace=False, p=self.identity_weights)]
        pos = np.arange(step * self.p, (step + 1) * self.p)
        chosen = []
        for epoch in np.unique(pos // n):
            perm = self._rng(0, int(epoch)).permutation(n)
            chosen.append(perm[pos[pos // n == epoch] % n])
        ids = np.concatenate(chosen)
        # A batch straddling two passes can draw an identity twice; swap repeats for unused identities.
        uniq, first = np.unique(ids, return_index=True)
        if len(uniq) < self.p:
            rest = np.setdiff1d(np.arange(n), uniq)
            fill = self._rng(1, step).choice(rest, self.p - len(uniq), replace=False)
            ids = np.concatenate([ids[np.sort(first)], fill])
        return self.eligible[ids]

    def batch(self, step: int) -> np.ndarray:
        """Dataset indices of batch `step`: P blocks of K images of one identity, then the extra negatives."""
        rng = self._rng(2, step)
        out = []
        identities = self._identities(step)
        for ident in identities:
            members = self._members[int(ident)]
            if len(members) >= self.k:
                out.append(rng.choice(members, self.k, replace=False))
            else:
                # Every image once, then repeats: with augmentation the repeats still differ.
                extra = rng.choice(members, self.k - len(members), replace=True)
                out.append(np.concatenate([rng.permutation(members), extra]))
        if self.extra:
            outside = np.flatnonzero(~np.isin(self.labels, identities))
            if len(outside):
                out.append(rng.choice(outside, min(self.extra, len(outside)), replace=False))
        return np.concatenate(out)
