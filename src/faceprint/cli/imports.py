"""`faceprint import dlib|openvino` and `faceprint export --format onnx`: faceprint models from and to other formats."""

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


def cmd_import_openvino(args: argparse.Namespace) -> int:
    from faceprint.models import save_model
    from faceprint.models.openvino_import import convert_openvino

    model = convert_openvino(args.xml, args.bin, weights_dtype=args.weights_dtype)
    fp = save_model(model, args.out)
    n = sum(p.numel() for p in model.parameters())
    pre = model.preprocessing
    print(f"wrote {args.out}: {model.config.graph['name']} from {args.xml} ({n / 1e6:.2f} M parameters, "
          f"{len(model.config.graph['nodes'])} graph nodes, weights {args.weights_dtype}, fingerprint {fp}); input "
          f"{pre.input_size} px {pre.channels.upper()} 0-255 aligned by {pre.alignment}, {model.config.embedding_size}-d "
          "output on the unit sphere; no threshold yet: fit one with `faceprint calibrate`")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from faceprint.cli.common import load_torch_model_arg

    model = load_torch_model_arg(args.model)
    from faceprint.demo import PHOTOS
    from faceprint.deploy.export import check_export, export_onnx
    from faceprint.detection.pipeline import FaceAligner

    out = export_onnx(model, args.out, opset=args.opset)
    # The check: the package's sample photos, detected and aligned as the model expects, through both runtimes.
    photos = sorted(PHOTOS.rglob("*.jpg"))[:8]
    aligner = FaceAligner(model.preprocessing, select="best")
    faces = [f.image for _, fs in aligner.align_many(photos, workers=1) if isinstance(fs, list) for f in fs]
    diff = check_export(model, out, faces)
    print(f"wrote {out} and {out}.json (model {model.fingerprint}, input (N, 3, {model.preprocessing.input_size}, "
          f"{model.preprocessing.input_size}) float32 from model.preprocess, dynamic batch); onnxruntime vs "
          f"PyTorch on {len(faces)} real faces: largest difference {diff:.1e}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from faceprint.cli.common import load_torch_model_arg
    from faceprint.models.io import save_model

    model = load_torch_model_arg(args.model)
    fp = save_model(model, args.out)
    print(f"wrote {args.out} (model {fp}, the same fingerprint: galleries and embedding files made with "
          f"{args.model} keep working with it, and the core runs it without PyTorch)")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="convert another project's face network into a faceprint model file")
    isub = p.add_subparsers(dest="source", required=True)
    d = isub.add_parser("dlib", help="dlib's ResNet face descriptor (read from its .dat file; dlib not needed)")
    d.add_argument("--out", required=True, help="the faceprint model file to write")
    d.add_argument("--weights", help="dlib_face_recognition_resnet_model_v1.dat (default: the one in the "
                                     "installed face_recognition_models package)")
    d.set_defaults(func=cmd_import_dlib)
    o = isub.add_parser("openvino", help="an OpenVINO IR v10 network (Intel's face-reidentification-retail; "
                                         "read by faceprint's own parser, OpenVINO not needed)")
    o.add_argument("--xml", required=True, help="the IR's .xml file (layers and edges)")
    o.add_argument("--bin", help="its weights (default: the .xml's name with .bin)")
    o.add_argument("--out", required=True, help="the faceprint model file to write")
    o.add_argument("--weights-dtype", choices=["float32", "float16"], default="float32",
                   help="how the file stores the weights (float32, default: exact; float16 rounds the float32 "
                        "PReLU slopes, up to 5e-4 in the embeddings)")
    o.set_defaults(func=cmd_import_openvino)

    e = sub.add_parser("export", help="write a model in a format other runtimes read (ONNX)")
    e.add_argument("--format", choices=["onnx"], default="onnx")
    e.add_argument("--model", help="the faceprint model file (default: the shipped model)")
    e.add_argument("--out", required=True, help="the ONNX file to write; its description goes to OUT.json")
    e.add_argument("--opset", type=int, default=18, help="ONNX opset")
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("convert", help="rewrite a model file of faceprint's first format (PyTorch's) in the current "
                                       "one, which the core runs without PyTorch (needs faceprint[train])")
    c.add_argument("model", help="the old model file")
    c.add_argument("--out", required=True, help="the model file to write")
    c.set_defaults(func=cmd_convert)
