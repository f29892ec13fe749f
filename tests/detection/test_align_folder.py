"""`faceprint align` on a small folder: report, manifest, resume, and training that remembers the alignment."""

import json
import shutil

import numpy as np
from PIL import Image

from faceprint.cli import main
from faceprint.training.loop import preprocessing_for


def test_align_folder_reports_and_resumes(lfw_dir, tmp_path, capsys):
    src = tmp_path / "src"
    people = lfw_dir / "lfw-deepfunneled"
    for name in ("Aaron_Peirsol", "Abdullah_Gul"):
        (src / name).mkdir(parents=True)
        for f in sorted((people / name).iterdir())[:2]:
            shutil.copy(f, src / name / f.name)
    Image.fromarray(np.full((120, 120, 3), 90, np.uint8)).save(src / "Abdullah_Gul" / "blank.jpg")
    (src / "Aaron_Peirsol" / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    dst = tmp_path / "aligned"
    assert main(["align", str(src), str(dst), "--method", "box", "--size", "160", "--workers", "1", "--no-progress",
                 "--debug", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 images: 4 aligned now, 0 done before, 1 without a face, 1 unreadable" in out
    assert "blank.jpg" in out and "broken.jpg" in out
    aligned = sorted(dst.glob("*/*.jpg"))
    assert len(aligned) == 4 and Image.open(aligned[0]).size == (160, 160)
    assert len(list((dst / "debug").glob("*.png"))) == 2
    records = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all("faces" in r for r in records if r["status"] != "unreadable")
    assert main(["align", str(src), str(dst), "--method", "box", "--size", "160", "--workers", "1",
                 "--no-progress"]) == 0
    assert "0 aligned now, 6 done before" in capsys.readouterr().out
    assert main(["align", str(src), str(dst), "--method", "five-point", "--no-progress"]) == 2  # other settings
    pre = preprocessing_for([str(dst)], 96, None)
    assert pre.alignment == "box" and pre.align_size == 160 and pre.margin == 32.0
    assert preprocessing_for([str(src)], 96, None).alignment == "lfw"
