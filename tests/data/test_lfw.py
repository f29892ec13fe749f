"""LFW protocol readers on small made-up files and, when present, the official files."""

import pytest
from PIL import Image

from faceprint.data import (
    MissingImagesError,
    read_lfw_pairs,
    read_lfw_people,
    read_pairs_csv,
)
from faceprint.data.lfw import lfw_image


def _lfw(tmp_path, people):
    for name, n in people.items():
        (tmp_path / name).mkdir()
        for i in range(1, n + 1):
            Image.new("RGB", (4, 4)).save(lfw_image(tmp_path, name, i))
    return tmp_path


def test_view2_pairs_keep_folds_and_order(tmp_path):
    d = _lfw(tmp_path, {"A_a": 2, "B_b": 2, "C_c": 1})
    f = tmp_path / "pairs.txt"
    f.write_text("2\t1\nA_a\t1\t2\nA_a\t1\tB_b\t1\nB_b\t1\t2\nB_b\t2\tC_c\t1\n")
    pairs = read_lfw_pairs(f, d)
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert pairs[1].path2 == d / "B_b" / "B_b_0001.jpg"


def test_view1_pairs(tmp_path):
    d = _lfw(tmp_path, {"A_a": 2, "B_b": 1})
    f = tmp_path / "pairsDevTest.txt"
    f.write_text("1\nA_a 1 2\nA_a 2 B_b 1\n")
    assert [p.same for p in read_lfw_pairs(f, d)] == [True, False]


def test_missing_images_are_listed_not_skipped(tmp_path):
    d = _lfw(tmp_path, {"A_a": 1})
    f = tmp_path / "pairs.txt"
    f.write_text("1\nA_a 1 2\nA_a 1 Z_z 3\n")
    with pytest.raises(MissingImagesError) as e:
        read_lfw_pairs(f, d)
    assert len(e.value.missing) == 2 and "A_a_0002.jpg" in str(e.value) and "Z_z_0003.jpg" in str(e.value)


def test_malformed_pairs_file(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("1 1\nA_a 1 B_b 2\nA_a 1 2\n")  # mismatched line where a matched pair belongs
    with pytest.raises(ValueError, match="line 2"):
        read_lfw_pairs(f, tmp_path, check=False)
    f.write_text("1 2\nA_a 1 2\n")
    with pytest.raises(ValueError, match="header"):
        read_lfw_pairs(f, tmp_path, check=False)


def test_people_files(tmp_path):
    f = tmp_path / "people.txt"
    f.write_text("2\n2\nA_a 3\nB_b 1\n1\nC_c 2\n")
    assert read_lfw_people(f) == [[("A_a", 3), ("B_b", 1)], [("C_c", 2)]]
    f.write_text("2\nA_a 3\nB_b 1\n")
    assert read_lfw_people(f) == [[("A_a", 3), ("B_b", 1)]]


def test_pairs_csv(tmp_path):
    _lfw(tmp_path, {"A_a": 2})
    f = tmp_path / "p.csv"
    f.write_text("path1,path2,same,fold\nA_a/A_a_0001.jpg,A_a/A_a_0002.jpg,1,0\nA_a/A_a_0001.jpg,A_a/A_a_0002.jpg,0,1\n")
    pairs = read_pairs_csv(f)
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 1)]
    f.write_text("A_a/A_a_0001.jpg,A_a/A_a_0009.jpg,1\n")
    with pytest.raises(MissingImagesError):
        read_pairs_csv(f)
    f.write_text("a,b,2,0\n")
    with pytest.raises(ValueError, match="0 or 1"):
        read_pairs_csv(f, check=False)


def test_official_files(lfw_dir):
    proto, images = lfw_dir / "protocol", lfw_dir / "lfw-deepfunneled"
    pairs = read_lfw_pairs(proto / "pairs.txt", images)
    assert len(pairs) == 6000 and len({p.fold for p in pairs}) == 10
    for f in range(10):
        fold = [p for p in pairs if p.fold == f]
        assert sum(p.same for p in fold) == 300 and len(fold) == 600
    people = read_lfw_people(proto / "people.txt")
    assert len(people) == 10
    fold_of = {name: k for k, fold in enumerate(people) for name, _ in fold}
    for p in pairs:  # every pair of fold k uses only people of fold k: the unrestricted protocol relies on it
        assert fold_of[p.path1.parent.name] == p.fold == fold_of[p.path2.parent.name]
    assert len(read_lfw_pairs(proto / "pairsDevTest.txt", images)) == 1000
    assert len(read_lfw_pairs(proto / "pairsDevTrain.txt", images)) == 2200
    assert len(read_lfw_people(proto / "peopleDevTest.txt")[0]) > 0
