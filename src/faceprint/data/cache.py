"""Decode every image once into a uint8 memory-mapped array, reused across epochs and runs.

JPEG decoding on 2 cores is slower than a small CNN's training step, so decoding per epoch would be the
bottleneck. The cache is keyed by the file list, each file's size and mtime, and the preprocessing that made it,
so a changed dataset or another crop gets a fresh cache instead of stale pixels.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceprint.data.images import ImageReadError
from faceprint.utils.io import atomic_write_text

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("FACEPRINT_CACHE", Path.home() / ".cache" / "faceprint"))


def cache_key(paths: Sequence[Path], spec: dict) -> str:
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for p in paths:
        try:
            st = p.stat()
            h.update(f"{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except (OSError, RuntimeError):  # a dangling link, a loop: reported as unreadable when decoded
            h.update(f"{p.absolute()}\0missing\n".encode())
    return h.hexdigest()[:24]


def _decode_chunk(args: tuple[list[str], Callable[[Path], np.ndarray]]) -> list[np.ndarray | str]:
    paths, load = args
    out: list[np.ndarray | str] = []
    for p in paths:
        try:
            out.append(load(Path(p)))
        except ImageReadError as e:
            out.append(e.reason)
    return out


class DecodedImages:
    """(N, S, S, 3) uint8 images of a file list, decoded once by `load` (a picklable function of a path).

    `bad` lists the indices whose file could not be read: they hold zeros and the caller leaves them out.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        load: Callable[[Path], np.ndarray],
        size: int,
        spec: dict,
        cache_dir: Path | None = None,
        workers: int | None = None,
        progress: bool = True,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.size = size
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        cache_dir.mkdir(parents=True, exist_ok=True)
        key = cache_key(self.paths, {**spec, "size": size})
        self.data_path = cache_dir / f"{key}.u8"
        self.meta_path = cache_dir / f"{key}.json"
        shape = (len(self.paths), size, size, 3)
        meta = self._valid_meta(shape)
        if meta is None:
            meta = self._build(load, shape, workers, progress)
        self.bad: list[int] = meta["bad"]
        self.bad_reasons: dict[int, str] = {int(k): v for k, v in meta.get("reasons", {}).items()}
        self.array = np.memmap(self.data_path, dtype=np.uint8, mode="r", shape=shape)

    def _valid_meta(self, shape: tuple[int, ...]) -> dict | None:
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, ValueError):
            return None
        expected = int(np.prod(shape))
        if meta.get("shape") != list(shape) or not self.data_path.exists() or self.data_path.stat().st_size != expected:
            log.info("decode cache %s is stale; rebuilding", self.data_path.name)
            return None
        return meta

    def _build(self, load: Callable[[Path], np.ndarray], shape: tuple[int, ...], workers: int | None,
               progress: bool) -> dict:
        tmp = self.data_path.with_suffix(f".tmp{os.getpid()}")
        arr = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=shape)
        chunk = 64
        jobs = [([str(p) for p in self.paths[i : i + chunk]], load) for i in range(0, len(self.paths), chunk)]
        workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        bad: list[int] = []
        reasons: dict[str, str] = {}
        bar = tqdm(total=len(self.paths), desc="decoding images (once)", unit="img", disable=not progress)
        if workers > 1 and len(jobs) > 1:
            from faceprint.utils.runtime import die_with_parent

            pool = ProcessPoolExecutor(workers, initializer=die_with_parent)
        else:
            pool = None
        try:
            results = pool.map(_decode_chunk, jobs) if pool else map(_decode_chunk, jobs)
            for ci, res in enumerate(results):
                for j, img in enumerate(res):
                    i = ci * chunk + j
                    if isinstance(img, str):
                        bad.append(i)
                        reasons[str(i)] = img
                        log.warning("skipping unreadable image %s: %s", self.paths[i], img)
                    else:
                        arr[i] = img
                bar.update(len(res))
        finally:
            bar.close()
            if pool:
                pool.shutdown()
        arr.flush()
        del arr
        os.replace(tmp, self.data_path)
        meta = {"shape": list(shape), "bad": bad, "reasons": reasons, "files": len(self.paths)}
        # The metadata is written last: a cache without it (a killed build) is rebuilt.
        atomic_write_text(self.meta_path, json.dumps(meta))
        return meta

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx: np.ndarray | int) -> np.ndarray:
        return np.asarray(self.array[idx])
