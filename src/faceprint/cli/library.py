"""`faceprint library scan | group | people | name | merge | remove | assign | hide | export | write-xmp`: a photo
library whose faces are sorted into people that persist and keep every correction (faceprint.applications.library)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from faceprint.cli.common import add_detector_option, add_model_option, check_gallery_arg

LIBRARY_HELP = "the library: a SQLite file, or a PostgreSQL database as postgresql://user@host/db"


def _open_existing(location: str):  # type: ignore[no-untyped-def]
    from faceprint.applications.library import open_library

    check_gallery_arg(location, create=False)
    return open_library(location, None, create=False)


def _model_and_library(args: argparse.Namespace, create: bool):  # type: ignore[no-untyped-def]
    from faceprint.applications.library import open_library
    from faceprint.cli.common import load_model_arg

    check_gallery_arg(args.library, create=create)
    model = load_model_arg(args.model)
    return model, open_library(args.library, model.fingerprint, model.config.embedding_size, model.distance,
                               create=create)


def _threshold(model, given: float | None) -> float:  # type: ignore[no-untyped-def]
    from faceprint.thresholds import library_threshold

    t, warning = library_threshold(model, given)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return t


def _grouping(g: dict[str, int] | None) -> str:
    if g is None:
        return ""
    if not g["faces"]:
        return "; grouping: nothing new"
    return (f"; grouped {g['faces']} faces: {g['moved']} placed, {g['new_people']} new suggested people"
            + (f", {g['people_gone']} merged into others" if g["people_gone"] else ""))


def cmd_scan(args: argparse.Namespace) -> int:
    from faceprint.applications.library.scan import scan
    from faceprint.pipeline import Pipeline
    from faceprint.utils.shard import parse_shard

    shard = parse_shard(args.shard)
    model, lib = _model_and_library(args, create=True)
    with lib:
        pipeline = Pipeline(model, select="all", min_face=args.min_face, detector=args.detector, keep_crops=True)
        threshold = _threshold(model, args.threshold) if shard[1] == 1 and not args.no_group else None
        rep = scan(lib, pipeline, args.dir, shard=shard, full=args.full, threshold=threshold,
                   group=not args.no_group, batch=args.batch, progress=not args.no_progress)
        for line in rep.unreadable:
            print(f"skipped {line}")
        print(f"{lib.path}: {rep.summary()}{_grouping(rep.grouping)}")
        if shard[1] > 1:
            print(f"shard {args.shard} done; once every shard is, run `faceprint library group --library "
                  f"{lib.path}` (it forgets the faces of photos gone and sorts the new ones)")
        s = lib.summary()
        print(f"library: {s['photos']} photos, {s['faces']} faces; {s['named']} named people, {s['suggested']} "
              f"suggested, {s['unassigned']} faces unassigned")
    return 0


def cmd_group(args: argparse.Namespace) -> int:
    model, lib = _model_and_library(args, create=False)
    with lib:
        g = lib.group(_threshold(model, args.threshold), full=args.full, force=args.full)
        print(f"{lib.path}{_grouping(g)[1:] if g['faces'] else ': nothing to group (nothing changed)'}")
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    with _open_existing(args.library) as lib:
        rows = lib.people(hidden=True)
    table = [("person", "name", "faces", "photos", "")]
    table += [(str(p.id), p.name if p.name is not None else "(suggested)", str(p.faces), str(p.photos),
               "hidden" if p.hidden else "") for p in rows]
    widths = [max(len(t[i]) for t in table) for i in range(5)]
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
    return 0


def cmd_name(args: argparse.Namespace) -> int:
    with _open_existing(args.library) as lib:
        lib.name(args.person, args.name)
    print(f"person {args.person} is {args.name!r}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    with _open_existing(args.library) as lib:
        into = lib.merge(args.people)
        name = next((p.name for p in lib.people() if p.id == into), None)
    print(f"merged {', '.join(map(str, args.people[1:]))} into person {into}" + (f" ({name!r})" if name else ""))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with _open_existing(args.library) as lib:
        pid = lib.remove_face(args.face, not_a_face=args.not_a_face)
    what = "marked as not a face" if args.not_a_face else "moved out"
    print(f"face {args.face} {what}" + (f" of person {pid}: never offered as them again" if pid is not None else ""))
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    with _open_existing(args.library) as lib:
        pid = lib.assign(args.face, args.name)
    print(f"face {args.face} is {args.name!r} (person {pid})")
    return 0


def cmd_hide(args: argparse.Namespace) -> int:
    with _open_existing(args.library) as lib:
        lib.hide(args.person, hidden=not args.show)
    print(f"person {args.person} {'shown' if args.show else 'hidden'}")
    return 0


def export_csv(data: dict) -> str:
    """A row per face: person, name, hidden, face, photo, box (unassigned faces with no person)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["person", "name", "hidden", "face", "photo", "x1", "y1", "x2", "y2"])
    for p in data["people"]:
        for f in p["faces"]:
            w.writerow([p["id"], p["name"] or "", int(p["hidden"]), f["id"], f["photo"], *f["box"]])
    for f in data["unassigned"]:
        w.writerow(["", "", "", f["id"], f["photo"], *f["box"]])
    return out.getvalue()


def cmd_export(args: argparse.Namespace) -> int:
    from faceprint.utils.io import atomic_write_text

    with _open_existing(args.library) as lib:
        data = lib.export()
    text = json.dumps(data, indent=1) + "\n" if args.format == "json" else export_csv(data)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}: {len(data['people'])} people, "
              f"{sum(len(p['faces']) for p in data['people'])} faces in them, {len(data['unassigned'])} unassigned")
    else:
        sys.stdout.write(text)
    return 0


def cmd_write_xmp(args: argparse.Namespace) -> int:
    from faceprint.applications.library.sidecars import write_sidecars

    with _open_existing(args.library) as lib:
        rep = write_sidecars(lib, progress=not args.no_progress)
    for line in rep.skipped:
        print(f"skipped {line}")
    print(rep.summary())
    return 0


def _person(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a person's id (a number, see `faceprint library people`), not {text!r}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("library", help="a photo library: every face of a folder tree sorted into people that "
                                       "persist, grow with each scan and keep every correction")
    lsub = p.add_subparsers(dest="library_command", required=True)

    s = lsub.add_parser("scan", help="bring the library up to date with a folder tree: new and changed photos "
                                     "detected and embedded, vanished ones forgotten, new faces sorted into people")
    s.add_argument("dir", help="the folder of photos (recursively; the library keeps paths relative to it)")
    s.add_argument("--library", required=True, help=LIBRARY_HELP + " (made on the first scan)")
    add_model_option(s)
    add_detector_option(s, "the face detector")
    s.add_argument("--min-face", type=float, default=20.0, help="the smallest face to look for, in pixels")
    s.add_argument("--shard", metavar="I/N", help="scan only the files whose path hashes to I of N (from 0): "
                                                  "several processes or hosts filling one PostgreSQL library; then "
                                                  "`faceprint library group` once")
    s.add_argument("--full", action="store_true", help="hash every file again, not only those whose size or "
                                                       "mtime changed")
    s.add_argument("--threshold", type=float, help="grouping's cut (default: the model's library threshold)")
    s.add_argument("--no-group", action="store_true", help="leave the new faces unsorted (`library group` later)")
    s.add_argument("--batch", type=int, default=64, help="photos committed per transaction (default 64): what a "
                                                         "killed scan can lose")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_scan)

    g = lsub.add_parser("group", help="sort the faces not yet in a person (after sharded scans; --full: make every "
                                      "suggestion again from scratch; names and corrections stay)")
    g.add_argument("--library", required=True, help=LIBRARY_HELP)
    add_model_option(g)
    g.add_argument("--threshold", type=float, help="the cut (default: the model's library threshold)")
    g.add_argument("--full", action="store_true", help="group every face that is in no named or hidden person again")
    g.set_defaults(func=cmd_group)

    pe = lsub.add_parser("people", help="the people: named ones first, then suggestions by size")
    pe.add_argument("--library", required=True, help=LIBRARY_HELP)
    pe.set_defaults(func=cmd_people)

    n = lsub.add_parser("name", help="name a suggested person (it becomes an identity of the gallery), or rename one")
    n.add_argument("--library", required=True, help=LIBRARY_HELP)
    n.add_argument("person", type=_person)
    n.add_argument("name")
    n.set_defaults(func=cmd_name)

    m = lsub.add_parser("merge", help="merge people into the first one given (it keeps its name, else the first "
                                      "name among the others)")
    m.add_argument("--library", required=True, help=LIBRARY_HELP)
    m.add_argument("people", type=_person, nargs="+")
    m.set_defaults(func=cmd_merge)

    r = lsub.add_parser("remove", help="move a face out of its person (never offered as them again)")
    r.add_argument("--library", required=True, help=LIBRARY_HELP)
    r.add_argument("--face", type=int, required=True, help="the face's id (`library export`)")
    r.add_argument("--not-a-face", action="store_true", help="it is no face at all: leave it out for good")
    r.set_defaults(func=cmd_remove)

    a = lsub.add_parser("assign", help="say who a face is: it goes to the person of that name (made if new)")
    a.add_argument("--library", required=True, help=LIBRARY_HELP)
    a.add_argument("--face", type=int, required=True, help="the face's id (`library export`)")
    a.add_argument("name")
    a.set_defaults(func=cmd_assign)

    h = lsub.add_parser("hide", help="hide a person from the people list (their faces still go to them)")
    h.add_argument("--library", required=True, help=LIBRARY_HELP)
    h.add_argument("person", type=_person)
    h.add_argument("--show", action="store_true", help="show a hidden person again")
    h.set_defaults(func=cmd_hide)

    e = lsub.add_parser("export", help="who is where: people with their faces (photo and box), and the faces no "
                                       "person holds")
    e.add_argument("--library", required=True, help=LIBRARY_HELP)
    e.add_argument("--format", choices=["json", "csv"], default="json")
    e.add_argument("--out", help="write here (default: standard output)")
    e.set_defaults(func=cmd_export)

    x = lsub.add_parser("write-xmp", help="write each photo's named faces into an XMP sidecar beside it (the Metadata "
                                          "Working Group's regions, read by digiKam, Lightroom, darktable); photos "
                                          "are never touched")
    x.add_argument("--library", required=True, help=LIBRARY_HELP)
    x.add_argument("--no-progress", action="store_true")
    x.set_defaults(func=cmd_write_xmp)

