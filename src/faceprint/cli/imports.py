"""`faceprint import dlib`: other projects' face networks as faceprint model files."""

from __future__ import annotations

import argparse


def cmd_import_dlib(args: argparse.Namespace) -> int:
    from faceprint.models import save_model
    from faceprint.models.dlib_import import convert_dlib, find_dlib_weights

    src = args.weights or find_dlib_weights()
    model = convert_dlib(src)
    fp = save_model(model, args.out)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: dlib's face ResNet from {src} ({n / 1e6:.2f} M parameters, fingerprint {fp}); "
          f"threshold {model.config.threshold:.4f} (from dlib's own rule; fit yours with `faceprint calibrate`)")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="convert another project's face network into a faceprint model file")
    isub = p.add_subparsers(dest="source", required=True)
    d = isub.add_parser("dlib", help="dlib's ResNet face descriptor (read from its .dat file; dlib not needed)")
    d.add_argument("--out", required=True, help="the faceprint model file to write")
    d.add_argument("--weights", help="dlib_face_recognition_resnet_model_v1.dat (default: the one in the "
                                     "installed face_recognition_models package)")
    d.set_defaults(func=cmd_import_dlib)
