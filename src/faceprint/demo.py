"""`faceprint demo`: the main job end to end.

With a trained model (the one shipped in the package, or --model), on the sample photos the package ships: detect
and align every face, verify pairs, enroll a gallery and identify probes (one stranger among them, who should come
out `unknown`), cluster all photos, and write an HTML report with thumbnails and plots.

Without one (a checkout before a model ships), it draws synthetic identities, trains a compact model on them for
about a minute with online semi-hard mining, and verifies pairs of identities it never trained on.
"""

from __future__ import annotations

import html
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.api import DEFAULT_MODEL, load

PHOTOS = Path(__file__).resolve().parent / "demo_data" / "photos"
STRANGER = "Vladimir_Putin"  # never enrolled: must come out unknown
ENROLLED_PER_PERSON = 2


def run_demo(out: Path, minutes: float = 1.0, model_path: str | None = None, lfw: str | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    if model_path is None and not DEFAULT_MODEL.exists():
        print("no trained model ships with this version yet: training a small one on synthetic faces instead")
        run_synthetic_demo(out, minutes)
        return out
    return run_photo_demo(load(model_path), out, model_path, lfw)


def run_photo_demo(model, out: Path, model_path: str | None = None, lfw: str | None = None) -> Path:  # type: ignore[no-untyped-def]
    from faceprint.api import open_gallery
    from faceprint.applications.clustering import cluster, write_clusters
    from faceprint.data import read_image
    from faceprint.embeddings import list_images
    from faceprint.evaluation import evaluate_verification
    from faceprint.evaluation.clustering import clustering_report
    from faceprint.evaluation.plots import plot_roc
    from faceprint.pipeline import Pipeline
    from faceprint.thresholds import (
        cluster_threshold,
        identification_threshold,
        verification_threshold,
    )
    from faceprint.utils.io import file_sha256

    t0 = time.perf_counter()
    threshold = verification_threshold(model)
    paths, names = list_images(PHOTOS)
    pipe = Pipeline(model, select="central")  # LFW photos: the subject is the centred face (as `evaluate lfw` takes)
    faces_dir = out / "faces"
    shutil.rmtree(faces_dir, ignore_errors=True)
    faces_dir.mkdir(parents=True)
    found, thumbs, boxes = [], [], []
    for p in paths:
        f = pipe.faces(read_image(p), str(p))[0]
        found.append(f)
        thumb = faces_dir / f"{p.parent.name}_{p.stem}.jpg"
        Image.fromarray(f.image).resize((112, 112)).save(thumb, quality=90)
        thumbs.append(thumb.relative_to(out).as_posix())
        boxes.append([round(float(v)) for v in f.face.box])
    emb = pipe.embed_faces(found)
    n = len(paths)
    ids = np.array(names)
    t_embed = time.perf_counter() - t0

    # Verification: every pair of photos.
    i, j = np.triu_indices(n, 1)
    dist = pipe.distances(emb[i], emb[j])
    same = ids[i] == ids[j]
    verdict = pipe.same(dist, threshold)
    ver_acc = float((verdict == same).mean())
    rep = evaluate_verification(dist, same)
    plot_roc(dist, same, rep, out / "verification.png", title=f"{n} demo photos, all {len(dist)} pairs")

    # Recognition: enroll two photos of each person but the stranger, identify the rest.
    db = out / "gallery.db"
    db.unlink(missing_ok=True)
    enrolled = [k for k in range(n) if ids[k] != STRANGER and sum(ids[:k] == ids[k]) < ENROLLED_PER_PERSON]
    probes = [k for k in range(n) if k not in enrolled]
    with open_gallery(db, model) as g:
        g.enroll([(ids[k], str(paths[k]), file_sha256(paths[k]), 0, emb[k]) for k in enrolled])
        open_set, warning = identification_threshold(model, None, len(g.identities()))
        if warning:
            print(f"warning: {warning}")
        results = g.identify(emb[probes], open_set, k=3)
    expected = ["unknown" if ids[k] == STRANGER else ids[k] for k in probes]
    right = [r.decision == e for r, e in zip(results, expected)]

    # Clustering: all photos, agglomerative at the model's clustering threshold (else its verification threshold).
    cut, warning = cluster_threshold(model)
    if warning:
        print(f"warning: {warning}")
    cl = cluster(emb, "agglomerative", threshold=cut, distance=model.distance)
    write_clusters(cl, [str(p) for p in paths], out / "clusters", copy=True)
    crep = clustering_report(np.unique(ids, return_inverse=True)[1], cl.labels)

    lfw_summary = None
    if lfw:
        from faceprint.data import read_lfw_pairs
        from faceprint.evaluation.protocol import evaluate_pairs

        lfw_dir = Path(lfw)
        pairs = read_lfw_pairs(lfw_dir / "protocol" / "pairs.txt", lfw_dir / "lfw-deepfunneled")
        lres = evaluate_pairs(model, pairs, protocol="LFW pairs.txt", input="photos", select="central")
        plot_roc(lres.dist, lres.same, lres.report, out / "lfw.png", title="LFW View 2")
        lfw_summary = lres.report.summary()
    elapsed = time.perf_counter() - t0

    print(f"model {model.fingerprint} ({model.config.backbone} @ {model.preprocessing.input_size} px), "
          f"threshold {threshold:.4f} ({model.config.distance})")
    print(f"{n} photos: {n} faces detected and aligned, embedded in {t_embed:.1f} s")
    print(f"verification, all {len(dist)} pairs at the model's threshold: {100 * ver_acc:.1f}% right "
          f"(AUC {rep.auc:.3f})")
    print(f"identification at the model's open-set threshold for a gallery of {len(set(ids[enrolled]))} people, "
          f"{open_set:.4f}: {sum(right)} of {len(probes)} probes right "
          f"({sum(ids[k] == STRANGER for k in probes)} of a stranger, expected 'unknown')")
    for k, r, e in zip(probes, results, expected):
        mark = "ok " if r.decision == e else "NO "
        print(f"  {mark} {paths[k].name}: {r.decision} (nearest {r.distance:.3f})")
    print(f"clustering: {cl.n_clusters} clusters for {len(set(names))} people (NMI {crep.nmi:.3f}, pairwise F1 "
          f"{crep.pairwise_f1:.3f})")
    if lfw_summary:
        print(f"LFW (note: whether the shipped model's training data held LFW's people is not known; see the model "
              f"card): {lfw_summary}")
    report = out / "report.html"
    report.write_text(_html(model, model_path, threshold, open_set, paths, ids, thumbs, boxes, probes, results,
                            expected, cl, crep, ver_acc, rep, lfw_summary, elapsed))
    print(f"report: {report}  ({elapsed:.1f} s)")
    return report


def _html(model, model_path, threshold, open_set, paths, ids, thumbs, boxes, probes, results, expected, cl,  # type: ignore[no-untyped-def]
          crep, ver_acc, rep, lfw_summary, elapsed) -> str:
    e = html.escape
    rows = []
    for k, r, x in zip(probes, results, expected):
        ok = r.decision == x
        cands = ", ".join(f"{e(c.identity)} {c.distance:.3f}" for c in r.candidates)
        rows.append(f"<tr><td><img src='{thumbs[k]}'></td><td>{e(ids[k])}</td><td><b>{e(r.decision)}</b></td>"
                    f"<td>{r.distance:.3f}</td><td>{cands}</td><td class={'ok' if ok else 'bad'}>"
                    f"{'right' if ok else 'wrong'}</td></tr>")
    faces = "".join(f"<figure><img src='{t}'><figcaption>{e(ids[k])}<br>box {boxes[k]}</figcaption></figure>"
                    for k, t in enumerate(thumbs))
    sheet_imgs = "".join(f"<img class=sheet src='clusters/cluster_{c:04d}.png'>" for c in range(cl.n_clusters))
    lfw = f"<h2>LFW</h2><p>{e(lfw_summary)}</p><img src='lfw.png'>" if lfw_summary else ""
    return f"""<!doctype html><meta charset=utf-8><title>faceprint demo</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} figure{{display:inline-block;margin:4px;
font-size:11px;text-align:center}} td{{padding:2px 8px}} .ok{{color:green}} .bad{{color:red}}
img.sheet{{max-width:100%;display:block;margin:6px 0}}</style>
<h1>faceprint demo</h1>
<p>Model <code>{e(str(model_path or 'shipped default'))}</code>, fingerprint {model.fingerprint},
{e(model.config.backbone)} at {model.preprocessing.input_size} px, {e(model.config.distance)} distance,
verification threshold {threshold:.4f} (same person if the distance is below it). {len(paths)} photos, {elapsed:.1f} s.</p>
<h2>Faces found and aligned</h2>{faces}
<h2>Verification</h2><p>All {len(ids) * (len(ids) - 1) // 2} pairs: {100 * ver_acc:.1f}% decided right at the
model's threshold; AUC {rep.auc:.3f}.</p><img src='verification.png'>
<h2>Identification</h2><p>Gallery: {ENROLLED_PER_PERSON} photos of each person except {e(STRANGER)}, who must come
out <i>unknown</i>: a probe is unknown unless its nearest gallery face is under the model's open-set threshold
for a gallery of this size, {open_set:.4f}, fitted on strangers' nearest-gallery distances (a pairwise threshold
would let most strangers match someone).</p><table><tr><th>probe</th><th>truth</th><th>decision</th><th>nearest</th><th>top 3</th><th></th>
</tr>{''.join(rows)}</table>
<h2>Clustering</h2><p>{cl.n_clusters} clusters for {len(set(ids))} people: {e(crep.summary())}</p>{sheet_imgs}
{lfw}
<p style='font-size:11px'>Photos: Labeled Faces in the Wild (Huang et al., 2007), see faceprint/demo_data/CREDITS.md.</p>
"""


def run_synthetic_demo(out: Path, minutes: float = 1.0) -> None:
    from faceprint.data.synthetic import make_synthetic_faces
    from faceprint.training import TrainConfig, train

    data = out / "synthetic-faces"
    if not (data / "id_059").exists():
        print(f"drawing 60 synthetic identities x 12 images into {data}")
        make_synthetic_faces(data, identities=60, images_per_identity=12, size=112, seed=0)
    run = out / "run"
    config = TrainConfig(
        data=[str(data)], backbone="resnet10_quarter", input_size=64, p=12, k=8, steps=600,
        max_minutes=minutes, val_split=0.25, val_num_pairs=1200, val_every=50, checkpoint_every=50,
        cache_dir=str(out / "cache"),
    )
    result = train(config, run, resume=(run / "checkpoint.pt").exists())
    print()
    print(f"trained {result.step} steps of {config.p} x {config.k} faces, online semi-hard triplet mining")
    if result.report is not None:
        print(f"held-out identities (never trained on): {result.report.summary()}")
    print(f"model: {run / 'best.pt'}   curves: {run / 'curves.png'}   metrics: {run / 'metrics.csv'}")
