"""Folder-per-identity datasets: ROOT/<identity>/<image>."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.data.images import is_image_file
from faceprint.errors import InputError, MissingFileError

log = logging.getLogger(__name__)


@dataclass
class FaceDataset:
    """Images with integer labels; `identities[label]` is the folder name.

    Identities with the same folder name in several roots are one identity (a user combining two copies of a
    set means that); `exclude` drops identities by name, e.g. the people of LFW test folds. With `dedupe`, a file
    name seen again under the same identity in a later root is the same photo in another crop (CelebA's aligned
    and in-the-wild sets number photos alike) and is left out, so one photo never sits on both sides of a split
    nor forms a "pair" with itself.
    """

    paths: list[Path]
    labels: np.ndarray
    identities: list[str]
    roots: list[Path] = field(default_factory=list)

    @classmethod
    def from_folders(
        cls, roots: Path | str | Sequence[Path | str], exclude: Iterable[str] = (), min_images: int = 1,
        dedupe: bool = False,
    ) -> FaceDataset:
        roots = [Path(roots)] if isinstance(roots, (str, Path)) else [Path(r) for r in roots]
        excluded = set(exclude)
        by_identity: dict[str, list[Path]] = {}
        twins = 0
        for root in roots:
            if not root.is_dir():
                raise MissingFileError(f"dataset folder not found: {root}")
            for ident_dir in sorted(p for p in root.iterdir() if p.is_dir()):
                if ident_dir.name in excluded:
                    continue
                # every name that says image, readable or not: a bad file gets reported, never silently dropped
                files = sorted(f for f in ident_dir.iterdir() if is_image_file(f))
                if files:
                    if ident_dir.name in by_identity:
                        log.debug("identity %s appears in several roots; merging", ident_dir.name)
                        if dedupe:
                            seen = {f.stem for f in by_identity[ident_dir.name]}
                            twins += sum(f.stem in seen for f in files)
                            files = [f for f in files if f.stem not in seen]
                    by_identity.setdefault(ident_dir.name, []).extend(files)
        if twins:
            log.info("left out %d photos seen under the same identity in an earlier root", twins)
        names = sorted(n for n, files in by_identity.items() if len(files) >= min_images)
        if not names:
            raise InputError(
                f"no images found in {', '.join(map(str, roots))}: expected ROOT/<identity>/<image> "
                f"with images of at least {min_images} per identity"
            )
        paths: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(names):
            paths.extend(by_identity[name])
            labels.extend([label] * len(by_identity[name]))
        return cls(paths, np.asarray(labels, dtype=np.int64), names, roots)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_identities(self) -> int:
        return len(self.identities)

    def subset(self, indices: Sequence[int] | np.ndarray) -> FaceDataset:
        """A dataset of some images, labels renumbered densely over the identities that remain."""
        idx = np.asarray(indices, dtype=np.int64)
        kept = np.unique(self.labels[idx])
        remap = {int(old): new for new, old in enumerate(kept)}
        return FaceDataset(
            [self.paths[i] for i in idx],
            np.asarray([remap[int(label)] for label in self.labels[idx]], dtype=np.int64),
            [self.identities[i] for i in kept],
            self.roots,
        )

    def split_identities(self, fraction: float, seed: int = 0) -> tuple[FaceDataset, FaceDataset]:
        """(train, held_out): a random `fraction` of identities held out whole, so no person is in both."""
        if not 0 < fraction < 1:
            raise InputError(f"fraction must be in (0, 1), got {fraction}")
        rng = np.random.default_rng(seed)
        order = rng.permutation(self.num_identities)
        n_out = max(1, int(round(fraction * self.num_identities)))
        held = np.isin(self.labels, order[:n_out])
        return self.subset(np.flatnonzero(~held)), self.subset(np.flatnonzero(held))


def unlabelled_photos(roots: Sequence[Path | str], exclude: Iterable[str] = (),
                      loose: bool = True) -> list[Path]:
    """Every image under `roots` (sub-folders too), for training without labels. An image inside a sub-folder named
    in `exclude` is left out, at any depth: a folder-per-identity set keeps its test people out that way. Images
    not inside any sub-folder can't be checked against `exclude`; `loose=False` refuses them (the LFW benchmark
    must prove that no test person's photo is trained on)."""
    excluded = set(exclude)
    out: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise MissingFileError(f"unlabelled photos: folder not found: {root}")
        found = sorted(f for f in root.rglob("*") if is_image_file(f) and not f.is_dir())
        if not loose and (stray := [f for f in found if f.parent == root]):
            raise InputError(f"{root}: {len(stray)} images lie directly in it (e.g. {stray[0].name}); here unlabelled "
                             "photos must sit in folders named by person so that the test people can be left out")
        out += [f for f in found if not excluded.intersection(f.relative_to(root).parts[:-1])]
    if not out:
        raise InputError(f"no unlabelled images found in {', '.join(map(str, roots))}")
    return out
