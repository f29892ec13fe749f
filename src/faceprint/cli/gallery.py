"""`faceprint gallery info | migrate | forget-crops | log`: what a gallery holds, moving it to another model, erasing
its face crops, and who changed it."""

from __future__ import annotations

import argparse
import json

from faceprint.cli.common import add_detector_option, check_gallery_arg, load_model_arg


def _open_any(location: str):  # type: ignore[no-untyped-def]
    from faceprint.applications.library.store import open_gallery_or_library

    check_gallery_arg(location, create=False)
    return open_gallery_or_library(location, None, create=False)


def cmd_info(args: argparse.Namespace) -> int:
    with _open_any(args.gallery) as g:
        info = g.info()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    crops = ("kept for every face" if info["faces_with_crops"] == info["faces"] else
             f"kept for {info['faces_with_crops']} of {info['faces']} faces (the others were enrolled before "
             "faceprint kept crops)") if info["crops"] == "keep" else "not kept (the gallery was made with "\
        "--no-crops, or they were erased)"
    print(f"gallery          {info['gallery']}\nmodel            {info['model_fingerprint']} "
          f"({info['embedding_size']}-d, {info['distance']})\npeople           {info['people']}\n"
          f"faces            {info['faces']}\nface crops       {crops}\ncreated          {info['created']}")
    for target, n in info["migration"].items():  # type: ignore[union-attr]
        print(f"migration        {n} faces staged for model {target} (run `faceprint gallery migrate` with that "
              "model again to finish)")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from faceprint.applications.migration import migrate

    with _open_any(args.gallery) as g:
        model = load_model_arg(args.model)
        before = g.fingerprint
        from faceprint.detection.registry import make_detector

        detector = make_detector(args.detector)
        rep = migrate(g, model, photos=args.photos, batch=args.batch, detector=detector,
                      progress=not args.no_progress, log=print)
        for d in rep.dropped:
            print(f"removed {d}")
        for d in rep.from_landmarks:
            print(f"note {d}")
        print(f"{g.path}: {rep.summary()}" + ("" if rep.already else f" (was model {before}); "
                                                f"{len(g.identities())} identities, {len(g)} faces"))
    return 0


def cmd_forget_crops(args: argparse.Namespace) -> int:
    with _open_any(args.gallery) as g:
        n = g.forget_crops()
        print(f"{g.path}: erased {n} face crops; it keeps none from now on (moving it to another model now needs "
              "the original photos: `faceprint gallery migrate --photos DIR`)")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from faceprint.applications.audit import parse_since

    since = parse_since(args.since) if args.since else None
    with _open_any(args.gallery) as g:
        rows = g.audit_log(since=since, limit=args.last)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
        return 0
    if not rows:
        print("no changes recorded" + (f" since {since}" if since else ""))
        return 0
    table = [("time (UTC)", "who", "action", "person", "change")]
    table += [(r.at, r.actor + (f" ({r.user})" if r.user else ""), r.action, r.person or "-", r.change) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(4)]
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)) + "  " + t[4])
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="a gallery's model, people, faces and crops; move it to another model")
    gsub = p.add_subparsers(dest="gallery_command", required=True)

    i = gsub.add_parser("info", help="model fingerprint, people, faces, whether face crops are stored")
    i.add_argument("--gallery", required=True, help="a SQLite file or postgresql://user@host/db")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    m = gsub.add_parser("migrate", help="embed every enrolled face again with another model and move the gallery "
                                        "to it (all or nothing; a killed run, run again, goes on)")
    m.add_argument("--gallery", required=True, help="a SQLite file or postgresql://user@host/db")
    m.add_argument("--model", help="the model to move to (default: the model shipped with faceprint)")
    m.add_argument("--photos", help="for faces without a stored crop: the folder the enrolled photo paths are "
                                    "relative to (a photo is used only if its content is the enrolled one)")
    m.add_argument("--batch", type=int, default=64, help="faces staged per transaction (default 64)")
    add_detector_option(m, "the face detector run on each kept crop")
    m.add_argument("--no-progress", action="store_true")
    m.set_defaults(func=cmd_migrate)

    f = gsub.add_parser("forget-crops", help="erase the stored face crops and keep none from now on")
    f.add_argument("--gallery", required=True, help="a SQLite file or postgresql://user@host/db")
    f.set_defaults(func=cmd_forget_crops)

    lg = gsub.add_parser("log", help="who changed the gallery, when and how: enrollments, removals, erased crops, "
                                     "migrations (the service's key labels, or cli and the user name)")
    lg.add_argument("--gallery", required=True, help="a SQLite file or postgresql://user@host/db")
    lg.add_argument("--since", help="only changes at or after this UTC date or time (2026-12-07, 2026-12-07T09:30) "
                                    "or within this age (30m, 12h, 7d, 2w)")
    lg.add_argument("--last", type=int, help="only the newest N changes")
    lg.add_argument("--json", action="store_true", help="a JSON list of the changes, oldest first")
    lg.set_defaults(func=cmd_log)
