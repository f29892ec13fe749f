"""The photos run G never trains on: people with one photo (after merging the training roots by identity, as
`faceprint train` does) are never drawn into a P x K batch. Links to them, one folder per person (the folder
names keep --exclude working), for `--unlabelled`. Usage: python experiments/make_singles.py OUT ROOT [ROOT ...]"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from faceprint.data import FaceDataset


def main(out: str, *roots: str) -> None:
    ds = FaceDataset.from_folders(roots, dedupe=True)
    counts = np.bincount(ds.labels)
    made = 0
    for path, label in zip(ds.paths, ds.labels):
        if counts[label] == 1:
            link = Path(out) / ds.identities[label] / path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(path.resolve())
            made += 1
    print(f"{made} people with one photo of {len(counts)} linked under {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
