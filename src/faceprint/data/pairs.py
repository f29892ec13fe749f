"""Verification protocols: pairs of images, same or not, in folds; LFW's files and a plain CSV for any other set."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import InputError, MissingFileError


@dataclass(frozen=True)
class Pair:
    path1: Path
    path2: Path
    same: bool
    fold: int


class MissingImagesError(MissingFileError):
    """A protocol names images that are not there; a benchmark must never silently skip pairs."""

    def __init__(self, protocol: str | Path, missing: Sequence[Path]) -> None:
        shown = "\n  ".join(str(p) for p in missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        super().__init__(f"{protocol} names {len(missing)} missing image(s):\n  {shown}{more}")
        self.missing = list(missing)


def check_pairs_exist(pairs: Sequence[Pair], protocol: str | Path) -> None:
    """Raise MissingImagesError listing every image a protocol names but the disk lacks."""
    missing = sorted({p for pair in pairs for p in (pair.path1, pair.path2) if not p.is_file()})
    if missing:
        raise MissingImagesError(protocol, missing)


def read_pairs_csv(path: str | Path, root: str | Path | None = None, check: bool = True) -> list[Pair]:
    """`path1,path2,same,fold` rows (a header line is allowed); relative paths are taken from `root`."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    pairs: list[Pair] = []
    with open(path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row or row[0].startswith("#"):
                continue
            if lineno == 1 and len(row) >= 3 and row[2].strip().lower() == "same":
                continue  # header line
            if len(row) not in (3, 4):
                raise InputError(f"{path}:{lineno}: expected path1,path2,same[,fold], got {len(row)} fields")
            try:
                same = int(row[2])
                fold = int(row[3]) if len(row) == 4 else 0
            except ValueError:
                raise InputError(f"{path}:{lineno}: same and fold must be integers, got {row[2:]}") from None
            if same not in (0, 1):
                raise InputError(f"{path}:{lineno}: same must be 0 or 1, got {same}")
            p1, p2 = (Path(p.strip()) for p in row[:2])
            pairs.append(Pair(p1 if p1.is_absolute() else base / p1, p2 if p2.is_absolute() else base / p2,
                              bool(same), fold))
    if not pairs:
        raise InputError(f"{path}: no pairs")
    if check:
        check_pairs_exist(pairs, path)
    return pairs
