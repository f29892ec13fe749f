"""The `faceprint` command."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import types
import typing
from pathlib import Path

from faceprint import __version__

log = logging.getLogger("faceprint")


def _field_type(f: dataclasses.Field) -> type:
    t = f.type if not isinstance(f.type, str) else eval(f.type, vars(typing), {})
    if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union:
        t = next(a for a in typing.get_args(t) if a is not type(None))
    return t


def _add_train_options(p: argparse.ArgumentParser) -> None:
    from faceprint.training import TrainConfig

    g = p.add_argument_group("training settings (override the --config file; defaults from the paper)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "data":
            p.add_argument("--data", action="append", metavar="DIR", help="folder-per-identity root (repeatable)")
            continue
        if f.name == "unlabelled":
            g.add_argument("--unlabelled", action="append", metavar="DIR",
                           help="photos without identity labels, taught by --teacher only (repeatable)")
            continue
        t = _field_type(f)
        if t is bool:
            g.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            g.add_argument(flag, dest=f.name, type=t, default=None, metavar=t.__name__.upper())


def _torchrun(nproc: int, argv: list[str]) -> int:
    """`faceprint train --nproc-per-node N ...` is `torchrun --standalone --nproc-per-node N -m faceprint -- train ...`
    (the `--` stops torchrun from taking faceprint's --p and --k for abbreviations of its own options)."""
    import os
    import subprocess

    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc-per-node":
            skip = True
        elif not a.startswith("--nproc-per-node="):
            rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m",
           "faceprint", "--", *rest]
    log.info("running %s", " ".join(cmd))
    return subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}).returncode


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from faceprint.training import TrainConfig, train

    if args.nproc_per_node and args.nproc_per_node > 1 and "WORLD_SIZE" not in os.environ:
        return _torchrun(args.nproc_per_node, sys.argv[1:] if args.argv is None else args.argv)

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig.load(args.config, **overrides)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 speaks for the job
    if main_rank:
        handler = logging.FileHandler(out / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
    result = train(config, out, resume=args.resume)
    if not main_rank:
        return 0
    print(f"trained {result.step} steps; models in {out} (best.pt = step {result.best_step}, last.pt)")
    if result.report is not None:
        print(f"last validation: {result.report.summary()}")
    if result.collapsed:
        print("WARNING: the run showed signs of collapse; see train.log")
    return 0


def cmd_benchmark_lfw(args: argparse.Namespace) -> int:
    from faceprint.training import TrainConfig
    from faceprint.training.lfw_benchmark import lfw_benchmark

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    overrides["data"] = args.data or []
    base = TrainConfig.load(args.config, **overrides)
    lfw_benchmark(args.lfw_dir, args.protocol_dir, args.out, base, args.protocol, args.splits, progress=base.progress,
                  parallel=args.parallel, flip=args.flip, lfw_train_dir=args.lfw_train_dir)
    print(Path(args.out, "report.md" if args.flip == "none" else f"report_flip-{args.flip}.md").read_text())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from faceprint.demo import run_demo

    run_demo(Path(args.out), minutes=args.minutes, model_path=args.model, lfw=args.lfw)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import json

    from faceprint.models.modelfile import LegacyModelFileError, read_model_file

    try:
        mf = read_model_file(args.model)
        fp, n, config = mf.fingerprint, sum(int(t.size) for t in mf.tensors.values()), dict(mf.config)
    except LegacyModelFileError:
        from faceprint.models.io import _legacy_payload

        payload = _legacy_payload(Path(args.model))
        fp, config = payload["fingerprint"], dict(payload["config"])
        n = sum(t.numel() for t in payload["state_dict"].values())
    if config.get("graph"):  # hundreds of layers: what they are, not each one
        graph = config["graph"]
        ops: dict[str, int] = {}
        for node in graph["nodes"]:
            ops[node["op"]] = ops.get(node["op"], 0) + 1
        config["graph"] = {"format": graph["format"], "name": graph["name"], "input_shape": graph["input_shape"],
                           "nodes": len(graph["nodes"]), "ops": ops}
    print(json.dumps({"fingerprint": fp, "parameters": n, **config}, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceprint", description="FaceNet face embeddings: train, evaluate, serve.")
    p.add_argument("--version", action="version", version=f"faceprint {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train with triplet loss and online (or offline) triplet mining")
    t.add_argument("--out", required=True, help="run folder: checkpoint, best.pt/last.pt, metrics.csv, curves.png")
    t.add_argument("--config", help="YAML file of training settings")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--nproc-per-node", type=int, metavar="N",
                   help="train in N processes on this machine (torchrun; DistributedDataParallel, gloo on CPUs)")
    _add_train_options(t)
    t.set_defaults(func=cmd_train)

    b = sub.add_parser("benchmark", help="train-and-test benchmarks")
    bsub = b.add_subparsers(dest="benchmark", required=True)
    bl = bsub.add_parser("lfw", help="LFW with models that never saw the tested people (trains, evaluates, reports)")
    bl.add_argument("--lfw-dir", required=True, help="LFW images: <Name>/<Name>_NNNN.jpg")
    bl.add_argument("--protocol-dir", required=True, help="folder with pairs.txt and people.txt")
    bl.add_argument("--lfw-train-dir", help="the LFW images to train on, if not --lfw-dir's (e.g. `faceprint align` "
                    "output of it, for an --init model that expects that alignment); tests still read --lfw-dir")
    bl.add_argument("--protocol", choices=["unrestricted", "outside"], default="unrestricted",
                    help="unrestricted: train on the other folds' people (+ --data); outside: --data only")
    bl.add_argument("--splits", type=int, default=2, help="models to cross-fit (2: folds 1-5 / 6-10)")
    bl.add_argument("--out", required=True)
    bl.add_argument("--parallel", type=int, default=1, help="train this many models at once (set --threads too)")
    bl.add_argument("--flip", choices=["none", "sum"], default="none",
                    help="test time: sum: embed each face and its mirror image (report_flip-sum.md)")
    bl.add_argument("--config", help="YAML training settings for every model")
    _add_train_options(bl)
    bl.set_defaults(func=cmd_benchmark_lfw)

    d = sub.add_parser("demo", help="the main job on the embedded default (see README)")
    d.add_argument("--out", default="demo-out", help="folder for the demo's data, model and report")
    d.add_argument("--minutes", type=float, default=1.0, help="synthetic demo (no model shipped): training budget")
    d.add_argument("--model", help="run the photo demo with this model instead of the shipped one")
    d.add_argument("--lfw", help="also evaluate on LFW: the folder holding lfw-deepfunneled/ and protocol/")
    d.set_defaults(func=cmd_demo)

    from faceprint.cli import evaluate, gallery, imports, jobs, library, serve

    evaluate.add_parsers(sub)
    jobs.add_parsers(sub)
    gallery.add_parsers(sub)
    library.add_parsers(sub)
    imports.add_parsers(sub)
    serve.add_parsers(sub)

    i = sub.add_parser("info", help="show a model file's config and fingerprint")
    i.add_argument("model")
    i.set_defaults(func=cmd_info)
    return p


def _message(e: BaseException) -> str:
    """The error's own message, and how to act on it with this command's flags (the library knows none)."""
    from faceprint.errors import FaceprintError, NotCalibratedError, RunExistsError

    # only a loaded model module can have raised it; importing it here would load torch to print a bad file's name
    io = sys.modules.get("faceprint.models.io")
    NoDefaultModelError = io.NoDefaultModelError if io else type(None)

    if isinstance(e, OSError) and not isinstance(e, FaceprintError) and e.filename:
        return f"{e.filename}: {e.strerror}"
    msg = str(e).strip()
    hints = {NotCalibratedError: "pass --threshold, or run `faceprint calibrate`",
             RunExistsError: "pass --resume to continue it, or another --out", NoDefaultModelError: "pass --model"}
    hint = next((h for kind, h in hints.items() if isinstance(e, kind)), "")
    return f"{msg} ({hint})" if hint else msg


# module a command may miss -> (the extra that brings it, what it is)
EXTRAS = {"torch": ("train", "PyTorch"), "onnx": ("train", "the ONNX exporter"), "onnxscript": ("train", "the ONNX "
          "exporter"), "yaml": ("train", "PyYAML"), "fastapi": ("serve", "the service's FastAPI"),
          "uvicorn": ("serve", "the service's uvicorn"), "multipart": ("serve", "python-multipart"),
          "av": ("video", "PyAV for video files"), "psycopg": ("postgres", "psycopg for PostgreSQL"),
          "faiss": ("search", "FAISS"), "face_recognition_models": ("dlib", "dlib's weights package")}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    logging.getLogger("PIL").setLevel(logging.WARNING)
    from faceprint.applications.audit import set_cli_command
    from faceprint.errors import FaceprintError

    sub = next((getattr(args, k) for k in vars(args) if k.endswith("_command") and getattr(args, k)), None)
    set_cli_command(" ".join(["faceprint", args.command, *([sub] if sub else [])]))  # what a gallery's trail records
    try:
        return int(args.func(args) or 0)
    except (FaceprintError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as e:
        if args.verbose:  # -v: the full traceback, for bug reports
            raise
        print(f"faceprint {args.command}: error: {_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ImportError as e:  # an extra this command needs is not installed: say which, in one line
        missing = (e.name or "").split(".")[0]
        extra = EXTRAS.get(missing)
        if extra is None or args.verbose:
            raise
        print(f"faceprint {args.command}: error: this needs {extra[1]}: pip install 'faceprint[{extra[0]}]' "
              f"({e})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
