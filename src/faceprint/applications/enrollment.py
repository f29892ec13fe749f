"""Enrollment of many photos that keeps its work: whole people per transaction, committed as it goes.

A person is never half enrolled: each transaction holds the faces of whole people (a batch of them, closed at the
first person boundary past `batch` photos). A run killed at any point leaves the people of its committed batches;
run again, it skips every photo already enrolled under the same name (by content hash, before any detection) and
finishes the rest, so the gallery ends as one uninterrupted run would have left it. Detection streams over all the
photos through one set of worker processes (FaceAligner.align_many), so committing often costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceprint.applications.identification import Gallery
from faceprint.data.images import ImageReadError
from faceprint.pipeline import Pipeline, resolve_input
from faceprint.utils.io import file_sha256


@dataclass
class EnrollReport:
    added: int = 0
    present: int = 0  # faces given again (already enrolled under the same name)
    skipped_done: int = 0  # photos not read again: enrolled under the same name by an earlier run
    batches: int = 0  # transactions committed
    skipped: list[str] = field(default_factory=list)  # "path: reason" for photos without a usable face


def _hashes(paths: Sequence[Path], report: EnrollReport) -> dict[int, str]:
    out = {}
    for i, p in enumerate(paths):
        try:
            out[i] = file_sha256(p)
        except OSError as e:
            report.skipped.append(f"{p}: {e.strerror or e}")
    return out


def enroll(gallery: Gallery, pipeline: Pipeline, paths: Sequence[str | Path], identities: Sequence[str],
           batch: int = 256, source: str | Path | None = None, progress: bool = True,
           log: Callable[[str], None] = lambda s: None) -> EnrollReport:
    """Enroll `paths` as `identities` (grouped by person, as list_images gives them) into `gallery`, whole people per
    transaction of about `batch` photos; faces keep their crop when the gallery keeps crops. `source`: the folder
    they came from (what input="auto" looks at)."""
    report = EnrollReport()
    paths = [Path(p) for p in paths]
    done = gallery.enrolled_content()
    sha = _hashes(paths, report)
    todo = [i for i in sha if done.get(sha[i], ("", 0))[0] != identities[i]]
    report.skipped_done = len(sha) - len(todo)
    report.present = sum(done[sha[i]][1] for i in set(sha) - set(todo))
    if report.skipped_done:
        log(f"{report.skipped_done} photos are enrolled already (an earlier run): not read again")
    if not todo:
        return report

    pending: list[tuple] = []  # (name, source, sha, face_index, stored face image, crop) of whole people

    def commit() -> None:
        if not pending:
            return
        emb = pipeline.model.embed(np.stack([r[4] for r in pending]), flip=pipeline.flip)
        added, present = gallery.enroll([(n, s, h, k, e, c) for (n, s, h, k, _, c), e in zip(pending, emb)])
        report.added += added
        report.present += present
        report.batches += 1
        pending.clear()

    ready_crops = resolve_input(pipeline.model, pipeline.input, source) == "crops"
    from faceprint.data.video import is_video_file

    if ready_crops or any(is_video_file(paths[i]) for i in todo):
        _enroll_in_calls(gallery, pipeline, paths, identities, todo, sha, batch, report, progress)
        return report
    pre = pipeline.model.preprocessing
    aligner = pipeline.aligner
    keep = gallery.crops_policy == "keep"
    aligner.keep_crops = keep
    photos = 0
    found = aligner.align_many([str(paths[i]) for i in todo], pipeline.workers)
    bar = tqdm(total=len(todo), desc="enrolling", unit="img", disable=not progress)
    for i, (name, faces) in zip(todo, found):
        bar.update()
        if photos >= batch and pending and pending[-1][0] != identities[i]:
            commit()  # a person boundary past the batch size
            photos = 0
        photos += 1
        if isinstance(faces, ImageReadError):
            report.skipped.append(f"{name}: {faces.reason}")
            continue
        for f in faces:
            pending.append((identities[i], name, sha[i], f.index, pre.from_array(f.image), f.crop if keep else None))
    commit()
    bar.close()
    return report


def _enroll_in_calls(gallery: Gallery, pipeline: Pipeline, paths: list[Path], identities: Sequence[str],
                     todo: list[int], sha: dict[int, str], batch: int, report: EnrollReport, progress: bool) -> None:
    """Ready crops, or videos among the photos: a Pipeline.embed call per batch of whole people."""
    pipeline.keep_crops = gallery.crops_policy == "keep"
    groups: list[list[int]] = []
    for i in todo:
        if groups and (identities[groups[-1][-1]] == identities[i] or len(groups[-1]) < batch):
            groups[-1].append(i)
        else:
            groups.append([i])
    for group in tqdm(groups, desc="enrolling", unit="batch", disable=not progress):
        es = pipeline.embed([paths[i] for i in group], [identities[i] for i in group])
        report.skipped += es.skipped
        by_path = {str(paths[i]): sha[i] for i in group}
        crops = es.crops or [None] * len(es.paths)
        added, present = gallery.enroll([
            (n, p, by_path[p.split("#t=")[0]], int(k), e, c)
            for n, p, k, e, c in zip(es.identities, es.paths, es.face_index, es.embeddings, crops)])
        report.added += added
        report.present += present
        report.batches += 1
