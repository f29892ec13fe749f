"""Readers for LFW's official protocol files (View 1 dev files and View 2 folds), unchanged."""

from __future__ import annotations

from pathlib import Path

from faceprint.data.pairs import Pair, check_pairs_exist
from faceprint.errors import InputError


def lfw_image(lfw_dir: str | Path, name: str, number: int, ext: str = "jpg") -> Path:
    """LFW's naming: <dir>/<Name>/<Name>_<NNNN>.jpg."""
    return Path(lfw_dir) / name / f"{name}_{number:04d}.{ext}"


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def read_lfw_pairs(pairs_file: str | Path, lfw_dir: str | Path, ext: str = "jpg", check: bool = True) -> list[Pair]:
    """`pairs.txt` (header `10 300`: folds x (matched, mismatched)) or a View 1 file (header `1100`: one fold).

    Pairs keep the file's order and folds; a named image that is missing raises MissingImagesError.
    """
    pairs_file = Path(pairs_file)
    rows = _lines(pairs_file)
    header = [int(t) for t in rows[0]]
    folds, per_set = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    body = rows[1:]
    if len(body) != folds * 2 * per_set:
        raise InputError(f"{pairs_file}: header says {folds} x 2 x {per_set} pairs, found {len(body)} lines")
    pairs: list[Pair] = []
    for i, row in enumerate(body):
        fold, within = divmod(i, 2 * per_set)
        matched = within < per_set
        if matched and len(row) == 3:
            p = Pair(lfw_image(lfw_dir, row[0], int(row[1]), ext), lfw_image(lfw_dir, row[0], int(row[2]), ext),
                     True, fold)
        elif not matched and len(row) == 4:
            p = Pair(lfw_image(lfw_dir, row[0], int(row[1]), ext), lfw_image(lfw_dir, row[2], int(row[3]), ext),
                     False, fold)
        else:
            kind = "matched (name n1 n2)" if matched else "mismatched (name1 n1 name2 n2)"
            raise InputError(f"{pairs_file}: line {i + 2} should be a {kind} pair, got {' '.join(row)!r}")
        pairs.append(p)
    if check:
        check_pairs_exist(pairs, pairs_file)
    return pairs


def read_lfw_people(people_file: str | Path) -> list[list[tuple[str, int]]]:
    """`people.txt` (header: number of folds, then per fold a count and `name n_images` lines) or a View 1
    people file (header: a count); returns folds of (name, number of images)."""
    people_file = Path(people_file)
    rows = _lines(people_file)
    folds: list[list[tuple[str, int]]] = []
    i = 0

    def take(count: int) -> list[tuple[str, int]]:
        nonlocal i
        chunk = rows[i : i + count]
        if len(chunk) != count or any(len(r) != 2 for r in chunk):
            raise InputError(f"{people_file}: expected {count} 'name count' lines after line {i}")
        i += count
        return [(r[0], int(r[1])) for r in chunk]

    first = int(rows[0][0])
    i = 1
    if len(rows) == 1 + first:  # View 1: a count, then the people
        return [take(first)]
    for _ in range(first):
        count = int(rows[i][0])
        i += 1
        folds.append(take(count))
    if i != len(rows):
        raise InputError(f"{people_file}: {len(rows) - i} lines left after {first} folds")
    return folds
