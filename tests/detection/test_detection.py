"""MTCNN's pieces on hand-computed cases, the similarity transform on known point sets, and real detections."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from faceprint.detection import (
    MTCNN,
    Face,
    align_five_point,
    select_faces,
    similarity_transform,
)
from faceprint.detection.alignment import FACENET_TEMPLATE_112, align_box, align_lfw
from faceprint.detection.mtcnn import (
    area_resize,
    crop_resize,
    integral_image,
    nms,
    proposal_boxes,
    pyramid_scales,
    regress,
    square,
)
from tests.reference import torch_crop_resize


def test_pyramid_scales_by_hand():
    # min face 24 -> first scale 12/24 = 0.5; side 100 * 0.5 = 50 -> 50, 25 (x0.5), 12.5: three levels
    assert pyramid_scales(100, 120, min_face=24, factor=0.5) == [0.5, 0.25, 0.125]
    assert pyramid_scales(20, 20, min_face=20, factor=0.709) == [0.6]  # 20 * 0.6 = 12: one level
    assert pyramid_scales(10, 10) == []
    with pytest.raises(ValueError):
        pyramid_scales(100, 100, factor=1.2)


def test_nms_by_hand():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 5, 5]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # IoU(0,1) = 81 / 119 = 0.68; IoU(3,0) = 25/100 = 0.25; box 2 overlaps nothing.
    assert nms(boxes, scores, 0.5).tolist() == [3, 0, 2]
    assert nms(boxes, scores, 0.7).tolist() == [3, 0, 1, 2]
    # "min" mode: overlap of box 3 with box 0 is 25 / min(25, 100) = 1 -> box 0 goes, then box 1 (0.68 of min)
    assert nms(boxes, scores, 0.5, mode="min").tolist() == [3, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_box_regression_and_square_by_hand():
    boxes = np.array([[10.0, 20.0, 30.0, 60.0]])  # 20 wide, 40 high
    out = regress(boxes, np.array([[0.1, -0.25, 0.5, 0.0]]))
    np.testing.assert_allclose(out, [[12.0, 10.0, 40.0, 60.0]])
    np.testing.assert_allclose(square(boxes), [[0.0, 20.0, 40.0, 60.0]])


def test_proposals_from_a_map():
    prob = np.zeros((5, 6))
    prob[2, 3] = 0.9
    reg = np.zeros((4, 5, 6))
    boxes, scores, offs = proposal_boxes(prob, reg, scale=0.5, threshold=0.6)
    # cell (row 2, col 3) is the 12x12 window at (6, 4) of the half-size image -> (12, 8, 36, 32) in the photo
    np.testing.assert_allclose(boxes, [[12, 8, 36, 32]])
    assert scores.tolist() == [0.9] and offs.shape == (1, 4)


def test_crop_resize_equals_torch_resizers_box_by_box():
    """The vectorised crops (integral image / bilinear gather) against torch's area and bilinear resizers on each
    box's zero-padded patch: boxes inside, across the border and wholly outside, non-square, shrunk and enlarged."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (57, 83, 3), dtype=np.uint8)
    standardised = (torch.from_numpy(image).permute(2, 0, 1).float() - 127.5) / 128
    x1 = rng.uniform(-30, 90, 300)
    y1 = rng.uniform(-30, 60, 300)
    side = rng.choice([1, 3, 11, 23, 24, 25, 47, 48, 49, 70, 140], 300) + rng.uniform(0, 1, 300)
    boxes = np.stack([x1, y1, x1 + side, y1 + side * rng.choice([1.0, 0.8, 1.3], 300)], 1)
    boxes = np.concatenate([boxes, [[-50, -50, -10, -10], [100, 0, 130, 30], [0, 0, 83, 57]]])
    for size in (24, 48):
        fast = crop_resize(image, boxes, size)  # channels last, as the networks' input before its transpose
        assert fast.shape == (len(boxes), size, size, 3)
        # bilinear weights are float32 in both, computed in a different order: < 1e-5 of a weight, x pixel jumps of 2
        np.testing.assert_allclose(fast.transpose(0, 3, 1, 2), torch_crop_resize(standardised, boxes, size).numpy(),
                                   atol=3e-5)
    assert crop_resize(image, np.zeros((0, 4)), 24).shape == (0, 24, 24, 3)


def test_pyramid_levels_equal_torch_area_resizing():
    """P-Net's pyramid read from the integral image equals F.interpolate(mode="area") on the standardised photo,
    for levels of every ratio down to a few pixels; the integral is exact (integers) and wide enough for big photos."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (113, 157, 3), dtype=np.uint8)
    standardised = (torch.from_numpy(image).permute(2, 0, 1).float()[None] - 127.5) / 128
    sums = integral_image(image)
    assert sums.dtype == np.int32 and sums[-1, -1].tolist() == image.reshape(-1, 3).sum(0).tolist()
    for h, w in [(113, 157), (81, 112), (57, 79), (40, 56), (12, 17), (3, 5), (1, 1)]:
        ref = torch.nn.functional.interpolate(standardised, size=(h, w), mode="area")[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(area_resize(sums, h, w), ref, atol=1e-5)
    big = np.full((4000, 3000, 3), 255, np.uint8)  # 3.06e9 > 2^31: the sums need 64 bits
    assert integral_image(big)[-1, -1, 0] == 4000 * 3000 * 255


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -3.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m, np.hstack([scale * rot, shift[:, None]]), atol=1e-9)
    # Noise: still the least-squares answer, and never a reflection.
    m2 = similarity_transform(src, dst + rng.normal(0, 0.5, dst.shape))
    assert np.linalg.det(m2[:, :2]) > 0 and abs(np.linalg.det(m2[:, :2]) ** 0.5 - scale) < 0.05
    with pytest.raises(ValueError):
        similarity_transform(src[:1], dst[:1])


def test_five_point_alignment_puts_landmarks_on_the_template():
    img = np.zeros((200, 200, 3), np.uint8)
    marks = FACENET_TEMPLATE_112 * 1.5 + 20  # a face 1.5x the template, shifted
    for x, y in marks:
        img[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255
    out = align_five_point(img, marks, 112)
    for x, y in FACENET_TEMPLATE_112:
        assert out[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2].max() > 100


def test_box_and_lfw_crops():
    img = np.zeros((100, 100, 3), np.uint8)
    img[40:60, 30:50] = 255  # the "face": a 20 x 20 white square
    out = align_box(img, np.array([30.0, 40.0, 50.0, 60.0]), size=40, margin=20)
    assert out.shape == (40, 40, 3) and out[12:28, 12:28].min() > 200 and out[:8].max() < 30
    wide = align_lfw(img, np.array([30.0, 40.0, 50.0, 60.0]), size=44)  # 2.2 x 20 = 44 px about the centre
    assert wide[15:29, 15:29].min() > 200 and wide[:5].max() < 30
    corner = align_box(img, np.array([-10.0, -10.0, 10.0, 10.0]), size=20, margin=0)  # off the photo: black
    assert corner.shape == (20, 20, 3) and corner[:5, :5].max() == 0


def test_face_selection():
    faces = [Face(np.array([0, 0, 10, 10.0]), 0.99, np.zeros((5, 2))),
             Face(np.array([40, 40, 70, 70.0]), 0.90, np.zeros((5, 2))),
             Face(np.array([80, 0, 100, 18.0]), 0.80, np.zeros((5, 2)))]
    assert select_faces(faces, (100, 110), "largest")[0] is faces[1]
    assert select_faces(faces, (100, 110), "central")[0] is faces[1]
    assert select_faces(faces, (100, 110), "best")[0] is faces[1]  # 0.9 x 900 beats 0.99 x 100
    assert len(select_faces(faces, (100, 110), "all")) == 3


@pytest.fixture(scope="module")
def detector():
    return MTCNN()


def test_no_face_on_blank_or_noise(detector):
    blank = np.full((240, 320, 3), 127, np.uint8)
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert detector.detect([blank, noise]) == [[], []]


def test_faces_found_on_real_photos(detector, photos):
    from faceprint.data import read_image

    paths = sorted(photos.glob("*/*.jpg"))[::3][:8]
    images = [read_image(p) for p in paths]
    for img, faces in zip(images, detector.detect(images)):
        assert faces, "no face found on an LFW photo"
        best = select_faces(faces, img.shape, "best")[0]
        cx, cy = (best.box[:2] + best.box[2:]) / 2
        assert abs(cx - 125) < 25 and abs(cy - 125) < 30 and best.score > 0.9
        left_eye, right_eye, nose, mouth_l, mouth_r = best.landmarks
        assert left_eye[0] < nose[0] < right_eye[0] and max(left_eye[1], right_eye[1]) < nose[1] < mouth_l[1]
    # a larger photo with two faces side by side: both are found
    pair = np.concatenate([images[0], images[1]], 1)
    big = np.asarray(Image.fromarray(pair).resize((1000, 500)))
    assert len(select_faces(detector.detect([big])[0], big.shape, "all")) >= 2


def test_batched_detection_equals_one_photo_at_a_time(detector):
    """R-Net and O-Net see the candidates of all photos at once: the same faces as photo by photo."""
    from faceprint.data import read_image
    from faceprint.demo import PHOTOS

    images = [read_image(p) for p in sorted(PHOTOS.rglob("*.jpg"))[:8]]
    images.append(np.full((240, 320, 3), 127, np.uint8))  # no face among faces
    together = detector.detect(images)
    for img, faces in zip(images, together):
        alone = detector.detect([img])[0]
        assert len(alone) == len(faces)
        for a, b in zip(alone, faces):
            np.testing.assert_allclose(a.box, b.box, atol=1e-3)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
    assert together[-1] == [] and sum(map(len, together)) >= 8


@pytest.mark.parametrize("detector", ["mtcnn", "yunet"])
def test_aligning_in_worker_processes_keeps_order_and_errors(tmp_path, detector):
    """FaceAligner.align_many with two worker processes: the same faces, in the same order, and every unreadable
    or faceless photo reported as its error, as in one process."""
    from faceprint.data import ImageReadError
    from faceprint.data.transforms import Preprocessing
    from faceprint.demo import PHOTOS
    from faceprint.detection.pipeline import FaceAligner, NoFaceError

    (tmp_path / "text.jpg").write_text("not an image")
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(tmp_path / "blank.png")
    photos = sorted(PHOTOS.rglob("*.jpg"))[:6]
    paths = [photos[0], tmp_path / "text.jpg", *photos[1:4], tmp_path / "blank.png", *photos[4:]]
    aligner = FaceAligner(Preprocessing(input_size=64, alignment="five_point", align_size=112), detector, select="all")
    one = list(aligner.align_many(paths, workers=1, chunk=3))
    two = list(aligner.align_many(paths, workers=2, chunk=3))
    assert [p for p, _ in one] == [p for p, _ in two] == [str(p) for p in paths]
    for (_, a), (_, b) in zip(one, two):
        assert type(a) is type(b)
        if isinstance(a, ImageReadError):
            assert a.reason == b.reason
        else:
            assert len(a) == len(b) and all(np.abs(x.image.astype(int) - y.image).max() <= 2 for x, y in zip(a, b))
    assert isinstance(one[1][1], ImageReadError) and isinstance(one[5][1], NoFaceError)
