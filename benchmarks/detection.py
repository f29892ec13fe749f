"""Detection proof and speed: do MTCNN and YuNet find the face of every LFW / CelebA-subset image where it should be,
does YuNet find the face MTCNN finds (and its landmarks how far from MTCNN's), does MTCNN find the same faces as a
saved earlier run, and how fast are detection + alignment here, beside dlib's HOG detector?

    python benchmarks/detection.py [--limit N] [--save D.json] [--reference D.json] [--no-dlib] [--detectors mtcnn,yunet]

--save writes every image's faces (boxes, landmarks, scores); --reference compares this run's faces with such a file
(written by another version of faceprint: `PYTHONPATH=<old checkout>/src python benchmarks/detection.py --save ...`):
a reference face is found again when a face of this run overlaps it with IoU >= 0.5; it is unchanged when every box
coordinate and landmark is within 1 px.

Central region: a box centre within 15% of the image side from the image centre (both datasets were cut with the
face centred: LFW from a 2.2x Viola-Jones box, the CelebA subset from a 2.2x MTCNN box). Reported for any face the
detector finds (the face is there and found) and for the face `--select best` (score x area) would take.

Speed: photos/s of detection + five-point alignment of every face found, decoding included, in two worker processes
of one thread each (what `faceprint align` does) and in one process one photo at a time (a stream), on LFW's
250 x 250 photos and on 1024 x 768 photos holding 12 faces (mosaics of LFW photos); dlib's HOG detector (upsampled
once, as face_recognition and dlib's examples run it, and not upsampled) on the same files in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_DET: dict = {}


def _variants() -> None:
    """YuNet with its older ways of getting points, by name, for side-by-side rows (issue 36)."""
    try:
        from faceprint.detection.registry import detector_names, register_detector
        from faceprint.detection.yunet import LANDMARKS, YuNet
    except ImportError:  # an older faceprint (--save from another checkout)
        return
    for points in LANDMARKS:
        if f"yunet-{points}" not in detector_names():
            register_detector(f"yunet-{points}", lambda min_face, threads, p=points: YuNet(
                min_face=min_face, threads=threads, landmarks=p))


def _init(kind: str = "mtcnn") -> None:
    try:
        from faceprint.utils.runtime import set_threads, tune_malloc

        set_threads(1)
        tune_malloc()
    except ImportError:  # an older faceprint (--save from another checkout)
        import torch

        torch.set_num_threads(1)
    if kind.startswith("hog"):
        import dlib

        _DET["d"], _DET["up"] = dlib.get_frontal_face_detector(), int(kind[-1])
    elif kind == "mtcnn":
        from faceprint.detection import MTCNN

        _DET["d"] = MTCNN()
    else:
        from faceprint.detection.registry import make_detector

        _DET["d"] = make_detector(kind, threads=1)


def _check(paths: list[str]) -> list[dict]:
    """Each image's faces, and the offsets of the best face's centre and of the most central face's centre from
    the image centre, as a fraction of the side."""
    from faceprint.data import read_image
    from faceprint.detection import select_faces

    images = [read_image(p) for p in paths]
    out = []
    by_shape: dict = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    found: list = [None] * len(images)
    for idx in by_shape.values():
        for i, faces in zip(idx, _DET["d"].detect([images[i] for i in idx])):
            found[i] = faces
    for p, im, faces in zip(paths, images, found):
        h, w = im.shape[:2]

        def offset(f) -> float:  # type: ignore[no-untyped-def]
            c = (f.box[:2] + f.box[2:]) / 2
            return float(np.max(np.abs(c - [w / 2, h / 2]) / [w, h]))

        best = offset(select_faces(faces, im.shape, "best")[0]) if faces else float("inf")
        near = min((offset(f) for f in faces), default=float("inf"))
        out.append({"path": p, "faces": [f.to_dict() for f in faces], "best": best, "near": near,
                    "shape": list(im.shape)})
    return out


def central_fraction(root: Path, limit: int | None, workers: int = 2, kind: str = "mtcnn") -> dict:
    files = sorted(str(p) for p in root.rglob("*.jpg"))
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    chunks = [files[i : i + 16] for i in range(0, len(files), 16)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(kind,)) as pool:
        res = [r for rs in pool.map(_check, chunks) for r in rs]
    dt = time.perf_counter() - t0
    best = np.array([r["best"] for r in res])
    near = np.array([r["near"] for r in res])
    return {"images": len(res), "no_face": int(np.isinf(best).sum()), "any_15": float((near <= 0.15).mean()),
            "best_15": float((best <= 0.15).mean()), "best_10": float((best <= 0.10).mean()),
            "several": sum(len(r["faces"]) > 1 for r in res), "img_s": len(res) / dt,
            "misses": [r["path"] for r in res if r["near"] > 0.15][:10],
            "best_not_central": [r["path"] for r in res if r["best"] > 0.15 >= r["near"]][:10],
            "detections": {r["path"]: r["faces"] for r in res}, "shapes": {r["path"]: r["shape"] for r in res}}


def agreement(ref: dict, other: dict) -> dict:
    """`other`'s detections against `ref`'s (MTCNN's) on the same images: the face `--select central` takes from
    each is the same face (IoU >= 0.5), and how far its five points are from the reference's, in % of the
    reference's inter-ocular distance (the same face only)."""
    from faceprint.detection import Face, select_faces

    def central(faces: list[dict], shape: list[int]) -> Face | None:
        fs = [Face(np.array(f["box"]), f["score"], np.array(f["landmarks"])) for f in faces]
        chosen = select_faces(fs, tuple(shape), "central")
        return chosen[0] if chosen else None

    same = both = 0
    dist = []
    for p, faces in ref["detections"].items():
        a, b = central(faces, ref["shapes"][p]), central(other["detections"][p], other["shapes"][p])
        if a is None or b is None:
            continue
        both += 1
        if _iou(a.box, b.box) >= 0.5:
            same += 1
            eyes = float(np.linalg.norm(a.landmarks[0] - a.landmarks[1]))
            dist.append(100 * np.linalg.norm(a.landmarks - b.landmarks, axis=1).max() / eyes)
    d = np.array(dist)
    return {"both": both, "same": same, "p50": float(np.median(d)), "p90": float(np.percentile(d, 90)),
            "p99": float(np.percentile(d, 99))}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def compare(now: dict[str, list[dict]], ref: dict[str, list[dict]]) -> dict:
    """Reference faces found again (IoU >= 0.5 with a face of this run), and of those, unchanged (every box
    coordinate and landmark within 1 px); extra faces this run found that the reference did not."""
    common = sorted(set(now) & set(ref))
    total = found = within = extra = 0
    worst = []
    for p in common:
        mine = [(np.array(f["box"]), np.array(f["landmarks"])) for f in now[p]]
        used = set()
        for f in ref[p]:
            total += 1
            box, marks = np.array(f["box"]), np.array(f["landmarks"])
            cand = [(i, _iou(box, b)) for i, (b, _) in enumerate(mine) if i not in used]
            i, iou = max(cand, key=lambda c: c[1], default=(None, 0.0))
            if i is None or iou < 0.5:
                continue
            used.add(i)
            found += 1
            dev = max(np.abs(mine[i][0] - box).max(), np.abs(mine[i][1] - marks).max())
            within += dev <= 1.0
            worst.append(dev)
        extra += len(mine) - len(used)
    return {"images": len(common), "faces": total, "found": found, "within_1px": within, "extra": extra,
            "dev_median": float(np.median(worst)) if worst else float("nan"),
            "dev_p99": float(np.percentile(worst, 99)) if worst else float("nan")}


def _detect_files(paths: list[str]) -> int:
    """Decode, detect and align every face of each photo, a batch of photos at a time; returns faces aligned."""
    from faceprint.data import read_image
    from faceprint.detection import align_face

    images = [read_image(p) for p in paths]
    n = 0
    if "up" in _DET:  # dlib HOG: boxes only, one photo at a time (its API)
        for im in images:
            n += len(_DET["d"](im, _DET["up"]))
        return n
    for im, faces in zip(images, _DET["d"].detect(images)):
        for f in faces:
            align_face(im, f, "five_point", 112)
            n += 1
    return n


def throughput(files: list[str], kind: str, workers: int, batch: int) -> tuple[float, int]:
    """Photos/s over `files` in `workers` processes of one thread each (the pool is started and warmed first)."""
    chunks = [files[i : i + batch] for i in range(0, len(files), batch)]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(kind,)) as pool:
        list(pool.map(_detect_files, [files[:batch]] * workers))
        t0 = time.perf_counter()
        faces = sum(pool.map(_detect_files, chunks))
        return len(files) / (time.perf_counter() - t0), faces


def write_video(path: Path, files: list[str], size: tuple[int, int], fps: int = 25) -> Path:
    """An H.264 (or MPEG-4) file showing each photo for one frame, resized to `size`."""
    import av
    from PIL import Image

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for f in files:
            img = np.asarray(Image.open(f).convert("RGB").resize(size, Image.BILINEAR))
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    return path


def video_throughput(path: Path, workers: int, kind: str = "mtcnn") -> tuple[float, int, float]:
    """Frames/s of decoding every frame + detection + alignment (FaceAligner.align_many, `workers` processes);
    faces per frame; frames/s of decoding alone."""
    from faceprint.data.transforms import Preprocessing
    from faceprint.data.video import frame_name, read_frames
    from faceprint.detection.pipeline import FaceAligner

    t0 = time.perf_counter()
    n = sum(1 for _ in read_frames(path, fps=0))
    decode = n / (time.perf_counter() - t0)
    aligner = FaceAligner(Preprocessing(alignment="five_point", align_size=112, input_size=96), kind, select="all")
    t0 = time.perf_counter()
    frames = ((frame_name(path, t), f) for t, f in read_frames(path, fps=0))
    faces = sum(len(r) for _, r in aligner.align_many(frames, workers) if isinstance(r, list))
    return n / (time.perf_counter() - t0), faces, decode


def mosaics(lfw: Path, count: int, out: Path) -> list[str]:
    """1024 x 768 JPEGs of 4 x 3 LFW photos each (12 faces of about 100 px)."""
    from PIL import Image

    from faceprint.data import read_image

    files = sorted(lfw.rglob("*.jpg"))[::97]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for m in range(count):
        tiles = [read_image(files[(12 * m + k) % len(files)]) for k in range(12)]
        rows = [np.concatenate(tiles[r * 4 : r * 4 + 4], 1) for r in range(3)]
        p = out / f"mosaic{m:03d}.jpg"
        Image.fromarray(np.concatenate(rows, 0)).resize((1024, 768), Image.BILINEAR).save(p, quality=92)
        paths.append(str(p))
    return paths


def large_photos(lfw: Path, sizes: tuple[int, ...] = (32, 48, 64, 80, 100, 128, 160), per_photo: int = 12,
                 photos: int = 6) -> None:
    """4000 x 3000 photos (a phone's 12 MP) holding LFW faces pasted at known sizes: which face sizes are found,
    and the time a photo takes, with the long side capped at 640 px (`--min-face 80` lets the cap rule) and with
    `--min-face 20` (the default, which keeps the resolution a 20 px face needs)."""
    from PIL import Image

    from faceprint.data import read_image
    from faceprint.detection import align_face
    from faceprint.detection.registry import make_detector

    files = sorted(lfw.rglob("*.jpg"))[::131]
    rng = np.random.default_rng(0)
    canvases, truth = [], []
    for m in range(photos):
        canvas = np.asarray(Image.fromarray(read_image(files[m])).resize((4000, 3000), Image.BILINEAR)) // 3 + 60
        canvas = np.ascontiguousarray(canvas.astype(np.uint8))
        boxes = []
        for k in range(per_photo):
            face = read_image(files[(per_photo * m + k + 50) % len(files)])[50:200, 50:200]  # the face, ~1.1x its box
            side = int(sizes[k % len(sizes)] * 1.5)  # the pasted face is ~2/3 of the tile
            tile = np.asarray(Image.fromarray(face).resize((side, side), Image.BILINEAR))
            x, y = 100 + (k % 4) * 950 + int(rng.integers(0, 200)), 100 + (k // 4) * 950 + int(rng.integers(0, 200))
            canvas[y : y + side, x : x + side] = tile
            boxes.append((x, y, x + side, y + side, sizes[k % len(sizes)]))
        canvases.append(canvas)
        truth.append(boxes)
    print("\n4000 x 3000 photos, 12 LFW faces each pasted at known sizes (6 photos, 72 faces), YuNet (the default "
          "detector), one process of one thread; faces found by face width:")
    print("| setting | input size | " + " | ".join(f"{s} px" for s in sizes) + " | s / photo (detect + align) |")
    print("|---|---|" + "---|" * len(sizes) + "---|")
    for label, min_face in (("long side capped at 640 px (`--min-face 80`)", 80.0),
                            ("`--min-face 20` (the default)", 20.0)):
        det = make_detector(min_face=min_face, threads=1)
        det.detect(canvases[:1])
        found = {s: [0, 0] for s in sizes}
        t0 = time.perf_counter()
        for canvas, boxes in zip(canvases, truth):
            faces = det.detect([canvas])[0]
            for f in faces:
                align_face(canvas, f, "five_point_reid", 128)
            for x1, y1, x2, y2, s in boxes:
                found[s][1] += 1
                found[s][0] += any(_iou(f.box, np.array([x1 + (x2 - x1) / 6, y1 + (y2 - y1) / 6, x2 - (x2 - x1) / 6,
                                                         y2 - (y2 - y1) / 6])) >= 0.3 for f in faces)
        dt = (time.perf_counter() - t0) / len(canvases)
        scale = det.scale_for((3000, 4000, 3))
        print(f"| {label} | {round(4000 * scale)} x {round(3000 * scale)} | "
              + " | ".join(f"{a}/{n}" for a, n in found.values()) + f" | {dt:.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, help="images per dataset (default: all)")
    ap.add_argument("--save", help="write this run's LFW detections here (JSON)")
    ap.add_argument("--reference", help="compare this run's LFW detections with a file written by --save")
    ap.add_argument("--no-dlib", action="store_true", help="leave dlib's HOG detector out of the speed table")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--large-only", action="store_true", help="only the 4000 x 3000 photos")
    ap.add_argument("--detectors", default="mtcnn,yunet",
                    help="faceprint's detectors to measure (mtcnn, yunet; yunet-onet, yunet-intel, yunet-mapped, "
                         "yunet-own: YuNet with other points)")
    args = ap.parse_args()
    _variants()
    detectors = args.detectors.split(",")
    points = {"onet-flip": "O-Net's points, crop and mirror averaged", "onet": "O-Net's points",
              "intel": "Intel's points", "mapped": "own points mapped", "own": "own points"}
    labels = {"mtcnn": "MTCNN", "yunet": f"YuNet_s (default: {points['onet-flip']})"}
    labels.update({f"yunet-{k}": f"YuNet_s ({v})" for k, v in points.items()})
    print(f"Machine: {machine()}\n")
    lfw = SHARED / "lfw" / "lfw-deepfunneled"
    if args.large_only:
        large_photos(lfw)
        return
    if not args.speed_only:
        print("| dataset | detector | images | no face | a face centred (15% of side) | best face centred (15% / 10%) "
              "| several faces | img/s (2 processes) |")
        print("|---|---|---|---|---|---|---|---|")
        by_detector: dict[str, dict] = {}
        for kind in detectors:
            results = by_detector.setdefault(kind, {})
            for name, root in [("LFW (deep-funneled, 250 px)", lfw),
                               ("CelebA subset (200 px)", SHARED / "celeba-subset" / "images")]:
                if not root.exists():
                    print(f"| {name} | | not here | | | | | |")
                    continue
                r = central_fraction(root, args.limit, workers=min(2, os.cpu_count() or 1), kind=kind)
                results[name] = r
                print(f"| {name} | {labels[kind]} | {r['images']} | {r['no_face']} | {100 * r['any_15']:.2f}% | "
                      f"{100 * r['best_15']:.2f}% / {100 * r['best_10']:.2f}% | {r['several']} | {r['img_s']:.1f} |",
                      flush=True)
        if "mtcnn" in by_detector and "yunet" in by_detector:
            print("\nYuNet_s against MTCNN, the face `--select central` takes (same face: IoU >= 0.5; landmark "
                  "distance: the farthest of the five points, in % of MTCNN's inter-ocular distance):")
            print("| dataset | images with a face from both | same face | landmark distance median / 90th / 99th pct |")
            print("|---|---|---|---|")
            for name, ref in by_detector["mtcnn"].items():
                a = agreement(ref, by_detector["yunet"][name])
                print(f"| {name} | {a['both']} | {100 * a['same'] / max(a['both'], 1):.2f}% | "
                      f"{a['p50']:.1f}% / {a['p90']:.1f}% / {a['p99']:.1f}% |", flush=True)
        results = by_detector.get("mtcnn") or next(iter(by_detector.values()), {})
        for name, r in results.items():
            if r["misses"]:
                print(f"\n{name}, images without a centred face: " + ", ".join(Path(p).name for p in r["misses"]))
            if r["best_not_central"]:
                print(f"{name}, a centred face found but another one is 'best': "
                      + ", ".join(Path(p).name for p in r["best_not_central"]))
        det = results.get("LFW (deep-funneled, 250 px)", {}).get("detections")
        if det and args.save:
            Path(args.save).write_text(json.dumps(det))
            print(f"\nLFW detections written to {args.save}")
        if det and args.reference:
            c = compare(det, json.loads(Path(args.reference).read_text()))
            print(f"\nAgainst {args.reference} ({c['images']} LFW images, {c['faces']} reference faces): found again "
                  f"{100 * c['found'] / max(c['faces'], 1):.2f}%, boxes and landmarks within 1 px "
                  f"{100 * c['within_1px'] / max(c['found'], 1):.2f}% of those (largest deviation median "
                  f"{c['dev_median']:.3f} px, 99th pct {c['dev_p99']:.3f} px), {c['extra']} faces not in the reference.")
    if not lfw.exists():
        return
    small = sorted(str(p) for p in lfw.rglob("*.jpg"))[::13][: args.limit or 1000]
    with tempfile.TemporaryDirectory() as tmp:
        big = mosaics(lfw, 48, Path(tmp))
        kinds = [(f"faceprint {labels[k]} + alignment", k) for k in detectors]
        if not args.no_dlib:
            try:
                import dlib  # noqa: F401

                kinds += [("dlib HOG, upsampled once (face_recognition's default)", "hog1"),
                          ("dlib HOG, not upsampled (misses faces under ~80 px)", "hog0")]
            except ImportError:
                print("\n(dlib is not installed: no HOG rows)")
        print("\nPhotos/s, decoding included, two worker processes of one thread each (one-process stream in "
              "brackets):")
        print(f"| detector | LFW 250 x 250 ({len(small)} photos) | 1024 x 768, 12 faces ({len(big)} photos) |")
        print("|---|---|---|")
        for label, kind in kinds:
            cells = []
            for files in (small, big):
                rate, faces = throughput(files, kind, 2, 16)
                one, _ = throughput(files[: max(len(files) // 4, 16)], kind, 1, 1)
                cells.append(f"{rate:.1f} ({one:.1f}); {faces / len(files):.2f} faces/photo")
            print(f"| {label} | {cells[0]} | {cells[1]} |", flush=True)
        large_photos(lfw)
        try:
            import av  # noqa: F401
        except ImportError:
            print("\n(PyAV is not installed: no video rows)")
            return
        videos = [("lfw.mp4", small, (250, 250)), ("mosaics.mp4", big, (1024, 768)),
                  ("vga.mp4", small, (640, 480))]
        paths = {name: write_video(Path(tmp) / name, files, size) for name, files, size in videos}
        for kind in detectors:
            cells = []
            for name, files, _ in videos:
                rate, faces, decode = video_throughput(paths[name], 2, kind)
                one, _, _ = video_throughput(paths[name], 1, kind)
                cells.append(f"{rate:.1f} ({one:.1f}); {faces / len(files):.2f} faces/frame; decoding alone "
                             f"{decode:.0f}")
            print(f"| faceprint {labels[kind]} + alignment on a video of the same photos (every frame; H.264, "
                  f"25 fps) | {cells[0]} | {cells[1]} |", flush=True)
            print(f"| the same, LFW photos as a 640 x 480 video | {cells[2]} | |", flush=True)


if __name__ == "__main__":
    main()
