"""Search indexes. Every distance faceprint knows is a monotone function of squared L2 (`Distance.from_squared_l2`),
so an index ranks by squared L2, its fast form, and converts only the k distances it returns."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from faceprint.distances import Distance, get_distance
from faceprint.errors import InputError

EXACT_UP_TO = 1_000_000  # "auto": exact search up to this many faces, FAISS IVF above (when installed)


class SearchIndex:
    """(queries (Q, D), k) -> (distances (Q, k), row numbers (Q, k)), nearest first; row -1 where FAISS finds fewer."""

    distance: Distance

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class ExactIndex(SearchIndex):
    """Exact k-NN by one matrix product per block of queries (practical to ~10^6 faces on 2 cores)."""

    def __init__(self, emb: np.ndarray, distance: str | Distance = "squared_l2") -> None:
        self.emb = np.array(emb, dtype=np.float32)  # a copy: frombuffer arrays are read-only
        self.norms = (self.emb * self.emb).sum(1)
        self.distance = get_distance(distance)

    def __len__(self) -> int:
        return len(self.emb)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self.emb))
        if k == 0 or len(q) == 0:
            return np.zeros((len(q), k), np.float32), np.zeros((len(q), k), np.int64)
        # |q|^2 is the same for a whole row, so rank by |e|^2 - 2 q.e and add it to the k kept; blocks keep the
        # (queries, N) score matrix to ~256 MB.
        block = max(1, min(256, (1 << 26) // max(1, len(self.emb))))
        ds, ns = [], []
        for s in range(0, len(q), block):
            qb = q[s : s + block]
            scores = qb @ self.emb.T
            scores *= -2
            scores += self.norms[None]
            part = np.argpartition(scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else \
                np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
            if k <= 256:  # the kept ones exactly, from their differences: a duplicate is at 0, not at ~1e-7 of
                # cancellation (which its square root, L2, would make ~1e-3)
                vals = ((qb[:, None, :] - self.emb[part]) ** 2).sum(-1)
            else:
                vals = np.take_along_axis(scores, part, 1) + (qb * qb).sum(1, keepdims=True)
            order = np.lexsort((part, vals), axis=1)  # nearest first; ties by row number
            idx = np.take_along_axis(part, order, 1).astype(np.int64)
            vals = np.maximum(np.take_along_axis(vals, order, 1), 0)
            ds.append(self.distance.from_squared_l2(vals).astype(np.float32))
            ns.append(idx)
        return np.concatenate(ds), np.concatenate(ns)


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class FaissIndex(SearchIndex):
    """Approximate search (FAISS IVF-Flat: 4 sqrt(N) lists, 16 probed) for galleries past ~10^6 faces, when
    faiss-cpu is installed; its recall@1 against exact search is measured in benchmarks/identify.py."""

    def __init__(self, emb: np.ndarray, distance: str | Distance = "squared_l2", nprobe: int = 16, seed: int = 0
                 ) -> None:
        import faiss  # optional dependency

        emb = np.ascontiguousarray(emb, dtype=np.float32)
        nlist = max(1, int(4 * np.sqrt(len(emb))))
        self.index = faiss.IndexIVFFlat(faiss.IndexFlatL2(emb.shape[1]), emb.shape[1], nlist)
        sample = np.random.default_rng(seed).choice(len(emb), min(len(emb), 50 * nlist), replace=False)
        self.index.train(emb[sample])
        self.index.add(emb)
        self.index.nprobe = nprobe
        self.distance = get_distance(distance)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d, n = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)  # FAISS L2 is squared L2
        return self.distance.from_squared_l2(d), n

    def save(self, path: str | Path) -> None:
        """Atomically (a temporary file renamed over `path`)."""
        import faiss

        tmp = Path(f"{path}.tmp{os.getpid()}")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path, distance: str | Distance, nprobe: int = 16) -> FaissIndex:
        import faiss

        obj = cls.__new__(cls)
        obj.index = faiss.read_index(str(path))
        obj.index.nprobe = nprobe
        obj.distance = get_distance(distance)
        return obj


def use_faiss(n: int, kind: str) -> bool:
    """Whether `kind` ("exact", "faiss" or "auto") means FAISS for n faces; "faiss" without the package is an error."""
    if kind not in ("auto", "exact", "faiss"):
        raise InputError(f"index must be auto, exact or faiss, got {kind!r}")
    if kind == "exact" or (kind == "auto" and n <= EXACT_UP_TO):
        return False
    if not faiss_available():
        if kind == "faiss":
            raise InputError("a FAISS index needs the faiss-cpu package (pip install faiss-cpu)")
        return False
    return True


def make_index(emb: np.ndarray, distance: str | Distance, kind: str = "auto") -> SearchIndex:
    """"exact" (default up to 10^6 faces), "faiss", or "auto" (FAISS IVF above 10^6 faces when installed)."""
    return FaissIndex(emb, distance) if use_faiss(len(emb), kind) else ExactIndex(emb, distance)
