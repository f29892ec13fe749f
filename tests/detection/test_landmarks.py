"""The landmark networks on YuNet's boxes (detection/landmarks.py): crops cut from a face's own region are the crops
of the whole photo, the square O-Net sees follows its rule by hand, O-Net's points on YuNet's boxes land where MTCNN
puts its own (what every alignment was made for), YuNet's second look at small photos without a face, and the
detector's settings on record."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.data import read_image
from faceprint.demo import PHOTOS
from faceprint.detection.landmarks import IntelPoints, ONetPoints, crops, enlarge, square_from_box
from faceprint.detection.mtcnn import MTCNN, crop_resize
from faceprint.detection.yunet import YuNet


def _photos() -> list[np.ndarray]:
    return [read_image(p) for p in sorted(PHOTOS.rglob("*.jpg"))]


def test_crops_are_mtcnns_crops():
    """Separable resizing over the box's own pixels against MTCNN's crop_resize (integral image of the whole photo):
    boxes inside, across every edge and past the photo, large (area averaging) and small (bilinear), non-square,
    covering the photo and more, and one that rounds to nothing."""
    im = _photos()[0]
    h, w = im.shape[:2]
    boxes = np.array([[40, 30, 190, 180], [-30, -20, 60, 70], [w - 50, h - 40, w + 30, h + 35], [100, 100, 130, 131],
                      [-10, 50, w + 10, 120], [5.4, 7.6, 52.5, 55.1], [10, 10, 58, 58], [20, 20, 67, 67],
                      [0, 0, w, h], [-300, -300, w + 400, h + 200], [30, 30, 30.2, 80], [w + 5, 10, w + 60, 70]])
    got = crops([im, im], [boxes[:4], boxes[4:]])
    np.testing.assert_allclose(got, crop_resize(im, boxes, 48), atol=2e-5, rtol=0)
    assert np.all(got[-1] == 0) and np.all(got[-2] == 0)  # wholly outside, or nothing: mid-grey, as MTCNN pads


def test_the_square_o_net_sees_by_hand():
    rule = np.array([0.1, -0.2, 0.05, 0.3, 0.5, 0.7])
    box = np.array([[10.0, 20.0, 110.0, 220.0]])  # w 100, h 200
    cx, cy = 60 + 0.1 * 100 - 0.2 * 200, 120 + 0.05 * 100 + 0.3 * 200
    side = 0.5 * 100 + 0.7 * 200
    expected = [[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]]
    np.testing.assert_allclose(square_from_box(box, rule), expected)
    np.testing.assert_allclose(enlarge(box, 1.15), [[60 - 57.5, 120 - 115, 60 + 57.5, 120 + 115]])


def _iod_error(faces, ref) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The farthest of the five points from MTCNN's, in MTCNN's inter-ocular distances, per face."""
    return np.array([np.linalg.norm(f.landmarks - r.landmarks, axis=1).max()
                     / np.linalg.norm(r.landmarks[0] - r.landmarks[1])
                     for f, r in zip(faces, ref)])


def test_o_nets_points_on_yunets_boxes_land_on_mtcnns():
    """On the shipped photos (not fitted on): O-Net's points are far nearer MTCNN's than YuNet's own or mapped ones
    (measured on the 22 shipped photos: median 4.6% of the inter-ocular distance against 13.2% mapped and 15.3%
    own; Intel's network 8.1%),
    and YuNet's boxes, scores and number of faces are untouched."""
    images = _photos()
    ref = [f[0] for f in MTCNN().detect(images)]
    runs = {p: [f[0] for f in YuNet(landmarks=p).detect(images)] for p in ("own", "mapped", "onet", "onet-flip",
                                                                            "intel")}
    err = {p: float(np.median(_iod_error(faces, ref))) for p, faces in runs.items()}
    for p in ("onet", "onet-flip"):
        assert err[p] < 0.07 and err[p] < 0.5 * min(err["own"], err["mapped"]), err
    assert err["intel"] < err["mapped"], err
    for p in ("mapped", "onet", "onet-flip", "intel"):
        np.testing.assert_array_equal([f.box for f in runs[p]], [f.box for f in runs["own"]])
        assert [f.score for f in runs[p]] == [f.score for f in runs["own"]]


def test_every_face_of_a_batch_gets_its_own_points():
    """All faces of several photos go through the network at once: each gets the points it gets alone."""
    images = _photos()[:5]
    det = YuNet()
    together = det.detect(images)
    for im, faces in zip(images, together):
        alone = det.detect([im])[0]
        assert len(alone) == len(faces) >= 1
        for a, b in zip(alone, faces):
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)


def test_landmark_networks_run_on_many_faces_and_none():
    images = _photos()[:3]
    boxes = [np.array([[50.0, 40, 180, 200], [10, 10, 60, 70]]), np.zeros((0, 4)), np.array([[60.0, 60, 170, 190]])]
    for net in (ONetPoints(), ONetPoints(flip=True), IntelPoints()):
        pts = net.points(images, boxes)
        assert [p.shape for p in pts] == [(2, 5, 2), (0, 5, 2), (1, 5, 2)]
        square = net.crop_boxes(boxes[2])[0]
        assert np.all((pts[2] >= square[:2]) & (pts[2] <= square[2:]))  # inside the crop it saw
        assert net.points([], []) == []


def test_one_crop_at_a_time_equals_one_batch():
    """Up to ONE_THREAD_UP_TO crops run one per call on one thread (fastest there); more run as one batch on every
    thread: the points must not depend on which."""
    images = _photos()[:3]
    rng = np.random.default_rng(0)
    boxes = [np.array([[40.0, 30, 190, 210]]) + rng.uniform(-15, 15, (7, 4)) for _ in images]  # 21 > 16 faces
    for cls in (ONetPoints, IntelPoints):
        net = cls(threads=2)
        assert net.batched is not None
        batched = net.points(images, boxes)
        net.batched = None  # every crop alone on the one-thread session
        alone = net.points(images, boxes)
        for a, b in zip(alone, batched):
            np.testing.assert_allclose(a, b, atol=1e-3)
    assert ONetPoints(threads=1).batched is None


def test_mirrored_crop_averaging_by_hand(monkeypatch):
    """flip=True: the network also sees the crop mirrored; its points are mirrored back (x -> 1 - x, the eyes and
    the mouth corners swap names) and averaged with the first ones."""
    net = ONetPoints(flip=True)
    seen = []
    unit = np.array([[[0.3, 0.4], [0.7, 0.42], [0.5, 0.6], [0.35, 0.8], [0.66, 0.79]]])
    mirror = np.array([[[0.32, 0.41], [0.68, 0.4], [0.52, 0.62], [0.36, 0.78], [0.63, 0.8]]])

    def infer(x):  # type: ignore[no-untyped-def]  # the crops, then their mirrors, in one call
        seen.append(x.copy())
        return np.concatenate([unit, mirror])

    monkeypatch.setattr(net, "_infer", infer)
    im = _photos()[0]
    pts = net.points([im], [np.array([[40.0, 40, 200, 200]])])[0]
    assert len(seen) == 1 and len(seen[0]) == 2
    np.testing.assert_array_equal(seen[0][1], seen[0][0][:, ::-1])
    back = mirror[0][[1, 0, 2, 4, 3]] * [-1, 1] + [1, 0]
    square = net.crop_boxes(np.array([[40.0, 40, 200, 200]]))[0]
    np.testing.assert_allclose(pts[0], square[:2] + (unit[0] + back) / 2 * (square[2:] - square[:2]), rtol=1e-6)


def test_second_look_only_at_small_photos_without_a_face(monkeypatch):
    det = YuNet()
    seen: list[list[float]] = []
    first = det._detect_at

    def spy(images, scales):  # type: ignore[no-untyped-def]
        seen.append([round(s, 3) for s in scales])
        return first(images, scales)

    monkeypatch.setattr(det, "_detect_at", spy)
    blank_small, blank_frame = np.full((200, 240, 3), 90, np.uint8), np.full((480, 640, 3), 90, np.uint8)
    face = _photos()[0]
    assert det.detect([blank_small, face, blank_frame])[1] and seen == [[1.0, 1.0, 1.0], [2.0]]
    seen.clear()
    assert det.detect([blank_frame]) == [[]] and seen == [[1.0]]  # a 640 x 480 frame: never twice
    seen.clear()
    YuNet.detect(det, [face])
    assert seen == [[1.0]]  # a face found: one look
    off = YuNet(second_pass=False)
    monkeypatch.setattr(off, "_detect_at", spy)
    seen.clear()
    off.detect([blank_small])
    assert seen == [[1.0]]


def test_settings_on_record_and_bad_options():
    s = YuNet().settings()
    assert s["detector"] == "yunet" and s["landmarks"] == "onet-flip" and s["second_pass"] is True
    cls, kwargs = YuNet(landmarks="intel", min_face=40).recipe()
    assert cls is YuNet and kwargs["landmarks"] == "intel" and kwargs["min_face"] == 40
    with pytest.raises(Exception, match="landmarks must be one of"):
        YuNet(landmarks="dlib")
