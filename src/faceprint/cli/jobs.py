"""The three jobs on the command line: verify (and calibrate), enroll / identify, cluster; and bulk embed."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from faceprint.cli.common import (
    UserError,
    add_fps_option,
    add_detector_option,
    add_input_options,
    add_model_option,
    cache_dir_arg,
    check_gallery_arg,
    embed_inputs,
    embeddings_of,
    load_model_arg,
    model_record,
    pipeline_of,
    write_json,
)

log = logging.getLogger("faceprint")


def cmd_verify(args: argparse.Namespace) -> int:
    from faceprint.data import read_image

    for image in (args.a, args.b):  # a bad file fails in a fraction of a second, before the model loads (seconds)
        read_image(image)
    model = load_model_arg(args.model)
    results = [{"a": args.a, "b": args.b, **c.to_dict()}  # one per pair of faces when photos hold several
               for c in pipeline_of(model, args).compare(args.a, args.b, args.threshold)]
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
        return 0
    for r in results:
        where = f"  (faces at {r['box_a']} and {r['box_b']})" if r["box_a"] is not None else ""
        print(f"{r['distance_name']} distance {r['distance']:.4f}  threshold {r['threshold']:.4f}  "
              f"{'SAME' if r['same'] else 'DIFFERENT'}{where}")
    return 0


def _read_any_pairs(pairs: str, images: str | None) -> list:
    from faceprint.data import read_lfw_pairs, read_pairs_csv

    first = Path(pairs).read_text().split("\n", 1)[0]
    if "," in first:
        return read_pairs_csv(pairs, images)
    if images is None:
        raise UserError("an LFW-format pairs file needs --images (the folder of <Name>/<Name>_NNNN.jpg)")
    return read_lfw_pairs(pairs, images)


def cmd_calibrate(args: argparse.Namespace) -> int:
    model = load_model_arg(args.model)
    if args.open_set and args.clustering:
        raise UserError("--open-set and --clustering are separate calibrations: run one, then the other on its output")
    before = model.fingerprint
    if args.test_flip is not None and args.test_flip != model.config.test_flip:
        # Every embedding changes: the thresholds fitted without it no longer hold, and galleries must not mix.
        c = model.config
        stale = [n for n, v in [("verification", c.threshold), ("open-set", c.open_set_thresholds),
                                ("clustering", c.cluster_threshold)] if v is not None]
        c.test_flip, c.threshold, c.open_set_thresholds, c.open_set_far, c.cluster_threshold = (
            args.test_flip, None, None, None, None)
        model.fingerprint = None
        print(f"test-time flip: {args.test_flip} (new fingerprint {model.fingerprint}); "
              + (f"dropped the {', '.join(stale)} threshold(s) fitted without it: calibrate them again on this "
                 "output" if stale else "no earlier thresholds to drop"))
    if args.open_set:
        _calibrate_open_set(model, args)
    elif args.clustering:
        _calibrate_clustering(model, args)
    else:
        _calibrate_pairs(model, args)
    fp = save_any(model, args.out)
    print(f"wrote {args.out} (same weights and fingerprint, new threshold)" if fp == before
          else f"wrote {args.out} (same weights, test-time flip {model.config.test_flip}: fingerprint {fp})")
    return 0


def save_any(model, out: str) -> str:  # type: ignore[no-untyped-def]
    """Write a model file from either runtime's model (the core's copies its weights and graph)."""
    if hasattr(model, "save"):
        return model.save(out)
    from faceprint.models.io import save_model

    return save_model(model, out)


def _calibrate_pairs(model, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    from faceprint.evaluation import accuracy_threshold, far_threshold, rates
    from faceprint.evaluation.protocol import evaluate_pairs

    if (args.pairs is None) == (args.data is None):
        raise UserError("verification threshold: give --pairs, or --data (a folder per identity: balanced pairs of "
                        "its faces)")
    if args.pairs is not None:
        pairs = _read_any_pairs(args.pairs, args.images)
        root = args.images or str(Path(args.pairs).parent)
        res = evaluate_pairs(model, pairs, cache_dir=cache_dir_arg(args.cache_dir), protocol=Path(args.pairs).name,
                             input=args.input, select=args.select, source=root, progress=not args.no_progress)
        dist, same, source = res.dist, res.same, str(args.pairs)
    else:
        dist, same = _folder_pairs(model, args)
        source = str(args.data)
    if args.far is not None:
        t = far_threshold(dist[~same], args.far)
        rule = f"largest threshold with FAR <= {args.far:g} on these pairs"
    else:
        t, _ = accuracy_threshold(dist, same)
        rule = "threshold of maximum accuracy on these pairs"
    acc, val, far = rates(dist, same, t)
    model.config.threshold = float(t)
    model.config.info["calibration"] = {"pairs": source, "n_pairs": len(dist), "rule": rule,
                                        "accuracy": acc, "tar": val, "far": far}
    print(f"threshold {t:.4f} ({rule}): accuracy {100 * acc:.2f}%, TAR {100 * val:.2f}%, FAR {100 * far:.3f}% "
          f"on {len(dist)} pairs")


def _folder_pairs(model, args: argparse.Namespace, max_pairs: int = 20_000):  # type: ignore[no-untyped-def]
    """Distances of up to max_pairs / 2 same-person pairs of a folder's faces and as many different-person pairs."""
    es = embeddings_of(model, args.data, args, need_identities=True)
    labels = np.unique(np.array(es.identities), return_inverse=True)[1]
    rng = np.random.default_rng(args.seed)
    pos = np.array([(a, b) for lab in np.unique(labels) for i, a in enumerate(np.flatnonzero(labels == lab))
                    for b in np.flatnonzero(labels == lab)[i + 1 :]]).reshape(-1, 2)
    if len(pos) == 0:
        raise UserError(f"{args.data}: no identity has two faces, so there is no same-person pair")
    pos = pos[rng.permutation(len(pos))[: max_pairs // 2]]
    neg = rng.integers(0, len(labels), (4 * len(pos), 2))
    neg = neg[labels[neg[:, 0]] != labels[neg[:, 1]]][: len(pos)]
    pairs = np.concatenate([pos, neg])
    e = es.embeddings
    return pipeline_of(model, args).distances(e[pairs[:, 0]], e[pairs[:, 1]]), np.arange(len(pairs)) < len(pos)


def _calibrate_open_set(model, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    from faceprint.evaluation.identification import calibrate_open_set

    if args.data is None or args.pairs is not None or args.max_accuracy:
        raise UserError("--open-set fits on a folder per identity: give --data DIR (no --pairs, no --max-accuracy)")
    es = embeddings_of(model, args.data, args, need_identities=True)
    for s in es.skipped:
        print(f"skipped {s}")
    names, labels = np.unique(np.array(es.identities), return_inverse=True)
    try:
        cal = calibrate_open_set(es.embeddings, labels, far=args.far if args.far is not None else 0.01,
                                 distance=model.distance, gallery_per_identity=args.gallery_per_identity,
                                 seed=args.seed)
    except ValueError as e:
        raise UserError(f"{args.data}: {e}") from None
    model.config.open_set_thresholds = cal.table()
    model.config.open_set_far = cal.far_target
    model.config.info["open_set_calibration"] = {"data": str(args.data), "identities": len(names), **cal.to_dict()}
    print(cal.summary())


def _calibrate_clustering(model, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    from faceprint.applications.clustering import calibrate_clustering

    if args.data is None or args.pairs is not None or args.max_accuracy or args.far is not None:
        raise UserError("--clustering fits on a folder per identity: give --data DIR (no --pairs, --far, --max-accuracy)")
    es = embeddings_of(model, args.data, args, need_identities=True)
    for s in es.skipped:
        print(f"skipped {s}")
    names, labels = np.unique(np.array(es.identities), return_inverse=True)
    sizes = tuple(int(v) for v in (args.sizes or ("100,300,1000" if args.library else "10,30,100")).split(","))
    try:
        cal = calibrate_clustering(es.embeddings, labels, model.distance, sizes=sizes, seed=args.seed)
    except ValueError as e:
        raise UserError(f"{args.data}: {e}") from None
    if args.library:
        model.config.library_threshold = cal.threshold
    else:
        model.config.cluster_threshold = cal.threshold
    model.config.info["library_calibration" if args.library else "cluster_calibration"] = {
        "data": str(args.data), "identities": len(names), **cal.to_dict()}
    print(("library " if args.library else "") + cal.summary())


def cmd_embed(args: argparse.Namespace) -> int:
    from faceprint.embeddings import (
        embed_in_pieces,
        list_images,
        merge_shards,
        shard_path,
    )
    from faceprint.utils.shard import parse_shard

    index, count = parse_shard(args.shard)
    model = load_model_arg(args.model)
    paths, ids = list_images(args.data)
    out = Path(args.out) if count == 1 else shard_path(args.out, index, count)
    pieces = [shard_path(args.out, i, count) for i in range(count)]
    if count > 1 and Path(args.out).exists() and not any(p.exists() for p in pieces):
        print(f"{args.out}: all {count} shards are done and merged already")
        return 0
    if count > 1 and out.exists():
        print(f"{out}: this shard is done already")
    else:
        es = embed_in_pieces(lambda p, i: embed_inputs(model, list(p), list(i), args, flip=args.flip), model,
                             paths[index::count], ids[index::count], out, args.chunk, log=print, flip=args.flip,
                             detector=args.detector)
        for s in es.skipped:
            print(f"skipped {s}")
        print(f"wrote {len(es.paths)} embeddings ({es.embeddings.shape[1]}-d) to {out}")
    if count > 1:
        merged = merge_shards(args.out, count, paths)
        print(f"merged the {count} pieces into {args.out} ({len(merged.paths)} embeddings)" if merged is not None
              else f"{args.out} is written when all {count} pieces are here")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    # what can be checked before torch loads (faceprint.embeddings, the model) fails in a second, not several
    check_gallery_arg(args.gallery, create=True)
    if not args.name and len(args.images) != 1:
        raise UserError("give one folder (ROOT/<identity>/<image>), or --name NAME with image files")
    if args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    from faceprint.api import open_gallery
    from faceprint.applications.enrollment import enroll
    from faceprint.embeddings import list_images

    if args.name:
        paths = [Path(p) for p in args.images]
        ids = [args.name] * len(paths)
    else:
        paths, ids = list_images(args.images[0])
        if not all(ids):
            raise UserError(f"{args.images[0]}: images must sit in a folder per identity (or use --name)")
    model = load_model_arg(args.model)
    with open_gallery(args.gallery, model, create=True, keep_crops=not args.no_crops) as g:
        if args.no_crops and g.crops_policy == "keep":
            raise UserError(f"{g.path} keeps face crops (fixed when it was made); `faceprint gallery forget-crops "
                            "--gallery ...` erases them and keeps none from then on")
        rep = enroll(g, pipeline_of(model, args), paths, ids, batch=args.batch,
                     source=None if args.name else args.images[0], progress=not args.no_progress, log=print)
        for s in rep.skipped:
            print(f"skipped {s}")
        print(f"{g.path}: {rep.added} faces added, {rep.present} already enrolled; "
              f"{len(g.identities())} identities, {len(g)} faces"
              + ("" if g.crops_policy == "keep" else " (no face crops kept)"))
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    import sys

    from faceprint.api import identify

    check_gallery_arg(args.gallery, create=False)
    model = load_model_arg(args.model)
    res = identify(model, args.gallery, [Path(p) for p in args.images], args.threshold, k=args.k, vote=args.vote,
                   index=args.index, input=args.input, select=args.select, min_face=args.min_face, fps=args.fps,
                   progress=not args.no_progress)
    if res.warning:
        print(f"warning: {res.warning}", file=sys.stderr)
    out: list[dict] = []
    for f in res.faces:
        out.append({"image": f.image, "box": f.box, "identity": f.identity, "distance": f.distance,
                    "threshold": f.threshold, "candidates": f.candidates})
        if not args.json:
            top = ", ".join(f"{c['identity']} {c['distance']:.3f}" for c in f.candidates)
            where = f" face at {f.box}" if f.box else ""
            print(f"{f.image}{where}: {f.identity} (nearest {f.distance:.4f}, threshold {f.threshold:.4f})  "
                  f"top-{args.k}: {top}")
    for s in res.skipped:
        out.append({"image": s.split(": ")[0], "error": s})
        if not args.json:
            print(f"{s}")
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from faceprint.api import cluster
    from faceprint.applications.clustering import write_clusters

    model = load_model_arg(args.model)
    es = embeddings_of(model, args.data, args)
    c = cluster(model, es, method=args.method, threshold=args.threshold, k=args.k, min_size=args.min_size,
                same_photo=args.same_photo)
    if c.warning:
        log.warning(c.warning)
    res = c.result
    out = write_clusters(res, es.paths, args.out, copy=args.copy)
    sizes = np.bincount(res.labels[res.labels >= 0]) if (res.labels >= 0).any() else np.zeros(0, int)
    print(f"{len(es.paths)} faces -> {res.n_clusters} clusters (largest {sizes.max() if len(sizes) else 0}), "
          f"{int((res.labels < 0).sum())} unclustered; {res.method} "
          f"{'k' if res.method == 'kmeans' else 'threshold'} {res.parameter:g}")
    for s in es.skipped:
        print(f"skipped {s}")
    print(f"wrote {out}/clusters.csv, clusters.json, a folder and a contact sheet per cluster")
    write_json(args.json, {"data": args.data, "model": model_record(model, args.model), "method": res.method,
                           "parameter": res.parameter, "n_clusters": res.n_clusters})
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    from faceprint.detection.folder import align_folder

    method = args.method.replace("-", "_")
    rep = align_folder(args.src, args.dst, method, args.size, args.margin, args.select, args.workers, args.min_face,
                       args.ext, args.debug, progress=not args.no_progress, shard=args.shard, detector=args.detector)
    print(rep.summary())
    for p in rep.no_face[:20]:
        print(f"no face: {p}")
    for p in rep.unreadable[:20]:
        print(f"unreadable: {p}")
    tag = "" if args.shard is None else ".shard-{}-of-{}".format(*args.shard.split("/"))
    print(f"manifest of boxes and landmarks: {Path(args.dst) / f'manifest{tag}.jsonl'}; report: "
          f"{Path(args.dst) / f'align_report{tag}.json'}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="detect and align faces of a folder-per-identity set (resumable)")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--method", choices=["lfw", "box", "five-point", "five-point-reid", "dlib-chip"], default="lfw",
                   help="lfw: 2.2x box like LFW (for centre-crop models); box: FaceNet-port box + margin; "
                        "five-point: similarity transform to a landmark template; five-point-reid: the same onto "
                        "the template of Intel's face-reidentification networks (use --size 128, for `faceprint "
                        "import openvino` models); dlib-chip: dlib's 150 px chip "
                        "(for `faceprint import dlib` models; use --size 150)")
    p.add_argument("--size", type=int, default=250, help="output size in pixels (250 for lfw, 160 or 112 otherwise)")
    p.add_argument("--margin", type=float, default=32.0, help="box: output pixels around the face box")
    p.add_argument("--select", choices=["best", "largest", "central", "all"], default="best",
                   help="which face of a photo with several (best = score x area)")
    p.add_argument("--min-face", type=float, default=20.0)
    add_detector_option(p, "the face detector", "recorded in alignment.json, and a folder is never continued "
                                                "with another")
    p.add_argument("--workers", type=int, help="processes (default: the cores)")
    p.add_argument("--ext", default="jpg")
    p.add_argument("--debug", type=int, default=0, help="draw boxes and landmarks of the first N images")
    p.add_argument("--shard", metavar="I/N", help="this process's share: every N-th image from the I-th (from 0); "
                                                  "N processes or machines sharing DST write what one would")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("verify", help="are two faces the same person?")
    p.add_argument("a")
    p.add_argument("b")
    add_model_option(p)
    p.add_argument("--threshold", type=float, help="default: the threshold calibrated for the model")
    p.add_argument("--json", action="store_true")
    add_input_options(p, "best")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("calibrate", help="fit the verification threshold on your pairs, or the open-set "
                                         "identification thresholds on your folder; writes a copy of the model")
    add_model_option(p)
    p.add_argument("--pairs", help="verification: LFW-format pairs file or a path1,path2,same,fold CSV")
    p.add_argument("--images", help="image folder (LFW format: <Name>/<Name>_NNNN.jpg; CSV: the paths' root)")
    p.add_argument("--open-set", action="store_true",
                   help="fit the identification thresholds instead, one per gallery size: whole identities of "
                        "--data are held out as strangers (repeated splits) and each threshold keeps their FAR at "
                        "--far (default 0.01)")
    p.add_argument("--clustering", action="store_true",
                   help="fit the clustering threshold instead: random folders of --sizes identities of --data are "
                        "clustered and the threshold with the best mean pairwise F1 is kept")
    p.add_argument("--sizes", help="--clustering: folder sizes in identities (default 10,30,100; with --library "
                                   "100,300,1000, as many as the data has)")
    p.add_argument("--library", action="store_true",
                   help="--clustering: fit the photo library's cut (`faceprint library`) instead, over folders of "
                        "hundreds of people")
    p.add_argument("--data", help="ROOT/<identity>/<image>, or its .npz from `faceprint embed`: the folder to "
                                  "fit on (--open-set, --clustering, or the verification threshold from its pairs)")
    p.add_argument("--gallery-per-identity", type=int, default=1, help="--open-set: enrolled faces per person")
    p.add_argument("--test-flip", choices=["none", "sum"],
                   help="bind test-time flip to the written model (sum: each face and its mirror image, twice the "
                        "network's cost) and fit this calibration with it; a new fingerprint, and thresholds fitted "
                        "without it are dropped (default: keep the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    add_input_options(p, "best", default="auto")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--far", type=float, help="the largest threshold with at most this false accept rate")
    g.add_argument("--max-accuracy", action="store_true", help="the threshold of maximum accuracy (default)")
    p.add_argument("--out", required=True, help="where to write the calibrated model")
    p.add_argument("--cache-dir")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("embed", help="embeddings of a folder, in the documented .npz format")
    p.add_argument("data", help="ROOT/<identity>/<image>, a folder of images, an image or a video file")
    p.add_argument("--out", required=True)
    add_model_option(p)
    p.add_argument("--flip", choices=["none", "sum", "concat"],
                   help="test-time augmentation with the mirrored face (default: the model's own test_flip)")
    p.add_argument("--cache-dir")
    p.add_argument("--no-progress", action="store_true")
    add_input_options(p, "best")
    add_fps_option(p)
    p.add_argument("--shard", metavar="I/N", help="embed every N-th image from the I-th into OUT.shard-I-of-N.npz; "
                                                  "the shard that completes the set merges the pieces into OUT")
    p.add_argument("--chunk", type=int, default=4096,
                   help="inputs per piece saved as it is done (OUT.part-K.npz): a killed run, run again, keeps the "
                        "pieces it finds and goes on (default 4096)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("enroll", help="add faces to a gallery (a SQLite file, or postgresql://user@host/db)")
    p.add_argument("--gallery", required=True, help="a SQLite file (made if absent), or a PostgreSQL database as "
                                                    "postgresql://user@host/db (the tables are made if absent)")
    p.add_argument("--name", help="identity of the images given (else: one folder per identity)")
    p.add_argument("images", nargs="+", help="a folder per identity, or image files with --name")
    add_model_option(p)
    p.add_argument("--no-crops", action="store_true",
                   help="make a gallery that keeps no face crops (fixed at creation; such a gallery can move to "
                        "another model only by reading the original photos again: `gallery migrate --photos`)")
    p.add_argument("--batch", type=int, default=256,
                   help="photos per transaction, rounded up to whole people: a killed run keeps the people of its "
                        "committed batches and a rerun finishes the rest (default 256)")
    p.add_argument("--cache-dir")
    p.add_argument("--no-progress", action="store_true")
    add_input_options(p, "best")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("identify", help="who is this? (top-k from a gallery, or unknown)")
    p.add_argument("--gallery", required=True, help="a SQLite file or postgresql://user@host/db")
    p.add_argument("images", nargs="+", help="photos or video files")
    add_model_option(p)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--vote", type=int, default=1, help="decide by majority of the N nearest faces (default 1: nearest)")
    p.add_argument("--threshold", type=float,
                   help="open-set threshold on the nearest face's distance (default: the model's, for the "
                        "gallery's number of identities)")
    p.add_argument("--index", choices=["auto", "exact", "faiss"], default="auto")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    add_input_options(p, "all")
    add_fps_option(p)
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("cluster", help="group faces by person")
    p.add_argument("data", help="a folder of images (sub-folders are read too), or its .npz from `faceprint embed`")
    p.add_argument("--out", required=True)
    add_model_option(p)
    p.add_argument("--method", choices=["agglomerative", "kmeans"], default="agglomerative",
                   help="agglomerative: average linkage at the model's clustering threshold (past 20,000 faces on "
                        "the k-nearest-neighbour graph, O(N k) memory); kmeans: k clusters")
    p.add_argument("--threshold", type=float, help="agglomerative: average-linkage distance (default: the model's)")
    p.add_argument("--k", type=int, help="k-means: number of clusters (default: chosen by silhouette)")
    p.add_argument("--min-size", type=int, default=1, help="smaller clusters go to 'unclustered'")
    p.add_argument("--same-photo", action="store_true",
                   help="allow two faces of one photo in one cluster (by default they never are: a person is in a "
                        "photo once)")
    p.add_argument("--copy", action="store_true", help="copy images into cluster folders instead of linking")
    p.add_argument("--json")
    p.add_argument("--cache-dir")
    p.add_argument("--no-progress", action="store_true")
    add_input_options(p, "all")
    p.set_defaults(func=cmd_cluster)
