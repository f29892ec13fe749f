"""`faceprint evaluate lfw | pairs | identify | cluster`."""

from __future__ import annotations

import argparse
from pathlib import Path

from faceprint.cli.common import (
    INPUT_HELP,
    add_detector_option,
    add_input_options,
    add_model_option,
    cache_dir_arg,
    embeddings_of,
    load_model_arg,
    model_record,
    write_json,
)


def _verification_options(p: argparse.ArgumentParser) -> None:
    add_model_option(p)
    p.add_argument("--flip", choices=["none", "sum", "concat"],
                   help="test-time augmentation with the mirrored face (default: the model's own test_flip)")
    p.add_argument("--mean-subtraction", action="store_true",
                   help="subtract the other folds' mean embedding before taking distances")
    p.add_argument("--far", type=float, default=1e-3, help="FAR of the VAL@FAR figure (default 1e-3, the paper's)")
    p.add_argument("--json", help="write the full report here")
    p.add_argument("--plot", help="write the ROC curve and distance histograms here (PNG)")
    p.add_argument("--cache-dir", help="decode cache folder")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--select", choices=["best", "central", "largest"],
                   help="photos: the face of a photo with several (default: central for LFW, whose subject is the "
                        "centred face; best = score x area otherwise)")
    add_detector_option(p, "photos: the face detector")
    p.add_argument("--input", choices=["crops", "photos", "auto"], default="auto",
                   help=INPUT_HELP + " (default auto; photos: an image without a detected face is embedded from its "
                                     "centre crop and reported)")


def _run_pairs(args: argparse.Namespace, pairs: list, protocol: str, data: str, select: str = "best") -> int:
    from faceprint.evaluation.plots import plot_roc
    from faceprint.evaluation.protocol import evaluate_pairs
    from faceprint.pipeline import resolve_input

    model = load_model_arg(args.model)
    args.flip = args.flip or model.config.test_flip
    args.input = resolve_input(model, args.input, data)
    res = evaluate_pairs(model, pairs, flip=args.flip, mean_subtraction=args.mean_subtraction, far=args.far,
                         cache_dir=cache_dir_arg(args.cache_dir), progress=not args.no_progress, protocol=protocol,
                         input=args.input, select=args.select or select, detector=args.detector)
    rep = res.report
    if res.centre_crop_fallbacks:
        print(f"{len(res.centre_crop_fallbacks)} image(s) without a detected face used their centre crop, e.g. "
              f"{res.centre_crop_fallbacks[0]}")
    print(f"{protocol} on {data} with model {model.fingerprint} ({model.config.backbone}, "
          f"flip={args.flip}, mean subtraction={'on' if args.mean_subtraction else 'off'})")
    print(rep.summary())
    if rep.cross_validated:
        print("fold  threshold  accuracy  VAL     FAR")
        for f in rep.folds:
            print(f"{f.fold:>4}  {f.threshold:9.4f}  {100 * f.accuracy:7.2f}%  {100 * f.val:6.2f}% {100 * f.far:6.3f}%")
    write_json(args.json, {"protocol": protocol, "data": data, "model": model_record(model, args.model),
                           "options": {"flip": args.flip, "mean_subtraction": args.mean_subtraction, "far": args.far,
                                       "input": args.input, "select": args.select or select,
                                       "detector": args.detector},
                           "centre_crop_fallbacks": res.centre_crop_fallbacks,
                           "report": rep.to_dict()})
    if args.plot:
        plot_roc(res.dist, res.same, rep, args.plot, title=f"{protocol}: accuracy {100 * rep.accuracy_mean:.2f}%")
        print(f"ROC: {args.plot}")
    return 0


def cmd_lfw(args: argparse.Namespace) -> int:
    from faceprint.data import read_lfw_pairs

    pairs = read_lfw_pairs(args.pairs, args.lfw_dir, ext=args.ext)
    return _run_pairs(args, pairs, Path(args.pairs).name, args.lfw_dir, select="central")


def cmd_pairs(args: argparse.Namespace) -> int:
    from faceprint.data import read_pairs_csv

    pairs = read_pairs_csv(args.pairs, args.root)
    return _run_pairs(args, pairs, Path(args.pairs).name, args.root or str(Path(args.pairs).parent))


def _embed_folder(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    model = load_model_arg(args.model)
    es = embeddings_of(model, args.data, args, need_identities=True)
    for s in es.skipped:
        print(f"skipped {s}")
    return model, es


def cmd_identify(args: argparse.Namespace) -> int:
    import numpy as np

    from faceprint.evaluation.identification import identification_report
    from faceprint.thresholds import identification_threshold

    model, es = _embed_folder(args)
    names, labels = np.unique(np.array(es.identities), return_inverse=True)
    n_gallery = len(names) - int(round(args.impostor_fraction * len(names)))  # as split_gallery holds strangers out
    threshold = None
    if model.config.open_set_thresholds or model.config.threshold is not None:
        threshold, _ = identification_threshold(model, None, n_gallery)
    rep = identification_report(es.embeddings, labels, args.gallery_per_identity, args.impostor_fraction,
                                model.distance, model_threshold=threshold, seed=args.seed)
    print(f"identification on {args.data} ({len(es.paths)} images, {len(names)} identities)")
    print(rep.summary())
    write_json(args.json, {"data": args.data, "model": model_record(model, args.model), "report": rep.to_dict()})
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    import numpy as np

    from faceprint.api import cluster
    from faceprint.evaluation.clustering import clustering_report

    model, es = _embed_folder(args)
    truth = np.unique(np.array(es.identities), return_inverse=True)[1]
    if args.method == "kmeans" and args.k is None:
        args.k = int(truth.max() + 1)  # the true number, unless given: this evaluates the embedding, not k
    res = cluster(model, es, method=args.method, threshold=args.threshold, k=args.k).result
    rep = clustering_report(truth, res.labels)
    print(f"clustering {args.data} ({len(es.paths)} images) with {res.method} "
          f"({'k' if res.method == 'kmeans' else 'threshold'} {res.parameter:g})")
    print(rep.summary())
    write_json(args.json, {"data": args.data, "model": model_record(model, args.model), "method": res.method,
                           "parameter": res.parameter, "report": rep.to_dict()})
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate", help="measure a model: LFW, any pairs protocol, identification, clustering")
    esub = ev.add_subparsers(dest="protocol", required=True)

    p = esub.add_parser("lfw", help="LFW View 2 (10 folds) or a View 1 file, the official protocol")
    p.add_argument("--lfw-dir", required=True, help="folder of <Name>/<Name>_NNNN.jpg")
    p.add_argument("--pairs", required=True, help="pairs.txt (or pairsDevTest.txt)")
    p.add_argument("--ext", default="jpg", help="image extension in --lfw-dir (e.g. png for aligned copies)")
    _verification_options(p)
    p.set_defaults(func=cmd_lfw)

    p = esub.add_parser("pairs", help="any protocol as a CSV of path1,path2,same,fold")
    p.add_argument("--pairs", required=True, help="CSV file")
    p.add_argument("--root", help="folder the CSV's relative paths start from (default: the CSV's folder)")
    _verification_options(p)
    p.set_defaults(func=cmd_pairs)

    for name, func, helptext in [("identify", cmd_identify, "rank-1/5 and open-set rates on a folder per identity"),
                                 ("cluster", cmd_cluster, "NMI, ARI, pairwise F1, purity on a folder per identity")]:
        p = esub.add_parser(name, help=helptext)
        add_model_option(p)
        p.add_argument("--data", required=True, help="ROOT/<identity>/<image>, or its .npz from `faceprint embed`")
        p.add_argument("--json", help="write the report here")
        p.add_argument("--cache-dir")
        p.add_argument("--no-progress", action="store_true")
        p.add_argument("--seed", type=int, default=0)
        add_input_options(p, "best", default="auto")
        if name == "identify":
            p.add_argument("--gallery-per-identity", type=int, default=1)
            p.add_argument("--impostor-fraction", type=float, default=0.2,
                           help="identities kept out of the gallery as strangers")
        else:
            p.add_argument("--method", choices=["agglomerative", "kmeans"], default="agglomerative")
            p.add_argument("--threshold", type=float, help="agglomerative: default the model's threshold")
            p.add_argument("--k", type=int, help="k-means: default the true number of identities")
        p.set_defaults(func=func)
