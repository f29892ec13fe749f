"""What every embedding model offers for inference, whichever runtime runs its network: the PyTorch network
(faceprint.models.embedder, for training) or onnxruntime (faceprint.models.onnx_model, the core). Preprocessing,
batching, test-time flip, normalisation and the fingerprint of what `embed` makes live here once; a runtime only
supplies `_forward` (the network on a preprocessed batch) and `_weights` (the weights as the file stores them)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.data.transforms import Preprocessing, flip_mode
from faceprint.distances import Distance, get_distance
from faceprint.models.config import ModelConfig
from faceprint.models.fingerprint import fingerprint


def normalize(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class Embedder:
    """Maps face images to (N, D) unit vectors; `config` binds preprocessing, distance and thresholds to it."""

    config: ModelConfig

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32, as `preprocess` makes it -> (N, D) float32 unit vectors."""
        raise NotImplementedError

    def _weights(self) -> dict[str, np.ndarray]:
        """The weights as a model file stores them (what the fingerprint hashes)."""
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._weights(), self.config)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.config.preprocessing

    @property
    def distance(self) -> Distance:
        return get_distance(self.config.distance)

    def preprocess(self, images: Sequence[str | Path | np.ndarray] | np.ndarray) -> np.ndarray:
        """Face images (files, RGB arrays, or stored crops) -> the (N, 3, H, W) float32 input the network, and
        the ONNX file `faceprint export` writes from it, take."""
        return self.preprocessing.to_input(self.preprocessing.stack(images))

    def embed(self, images: Sequence[str | Path | np.ndarray] | np.ndarray, batch_size: int = 128,
              progress: bool = False, flip: bool | str | None = None) -> np.ndarray:
        """(N, D) float32 embeddings of image files, RGB arrays, or already-stored (N, S, S, 3) uint8 crops.

        `flip` (test-time augmentation with the mirrored face): "sum" (or True) adds the two embeddings and
        renormalises, (N, D); "concat" joins them into one unit vector of size 2D; None: the model's own
        `test_flip` (what its thresholds were fitted with).
        """
        from tqdm import tqdm

        mode = flip_mode(flip, self.config.test_flip)
        out = []
        for s in tqdm(range(0, len(images), batch_size), desc="embedding", unit="batch", disable=not progress):
            x = self.preprocess(images[s : s + batch_size])
            e = self._forward(x)
            if mode != "none":
                m = self._forward(np.ascontiguousarray(x[..., ::-1]))
                e = normalize(e + m if mode == "sum" else np.concatenate([e, m], 1))
            out.append(e.astype(np.float32))
        if not out:
            return np.zeros((0, self.config.embedding_size * (2 if mode == "concat" else 1)), np.float32)
        return np.concatenate(out)

    def embedding_identity(self, flip: bool | str | None = None) -> tuple[str, dict[str, Any]]:
        """(fingerprint, config dict) of the embeddings `embed(..., flip=flip)` makes, for the files that store them.

        With the model's own test_flip, its own. With another "none"/"sum", those of this network with that flip
        bound to it (what `calibrate --test-flip` writes): the two give the same vectors, so their files mix, and
        neither mixes with the other flip's. "concat" (2D-d vectors) gets a fingerprint no model has."""
        mode = flip_mode(flip, self.config.test_flip)
        if mode == self.config.test_flip:
            return self.fingerprint, self.config.to_dict()
        config = self.config.to_dict() | {"test_flip": mode}
        if mode == "concat":
            config["embedding_size"] = 2 * self.config.embedding_size
            return hashlib.sha256(f"{self.fingerprint}:flip-concat".encode()).hexdigest()[:16], config
        cache = self.__dict__.setdefault("_bound_fingerprints", {})
        key = (self.fingerprint, mode)  # hashing the weights again costs ~0.1 s: once per weights and flip
        if key not in cache:
            bound = copy.copy(self.config)
            bound.test_flip = mode
            cache[key] = fingerprint(self._weights(), bound)
        return cache[key], config
