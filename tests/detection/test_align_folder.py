"""`faceprint align` on a small folder: report, manifest, resume, and training that remembers the alignment."""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.cli import main
from faceprint.training.loop import preprocessing_for


def test_align_folder_reports_and_resumes(photos, tmp_path, capsys):
    src = tmp_path / "src"
    people = photos
    for name in ("Colin_Powell", "Laura_Bush"):
        (src / name).mkdir(parents=True)
        for f in sorted((people / name).iterdir())[:2]:
            shutil.copy(f, src / name / f.name)
    Image.fromarray(np.full((120, 120, 3), 90, np.uint8)).save(src / "Laura_Bush" / "blank.jpg")
    (src / "Colin_Powell" / "broken.jpg").write_bytes(b"\xff\xd8 nope")
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
    # a worker killed while saving left a temporary file of an image the manifest lacks: the rerun redoes the image
    # and removes the leftover; a temporary file of an image already done is not this run's to touch
    lines = (dst / "manifest.jsonl").read_text().splitlines()
    undone = next(r for r in map(json.loads, lines) if r["status"] != "unreadable" and "blank" not in r["source"])
    (dst / "manifest.jsonl").write_text("".join(line + "\n" for line in lines if json.loads(line) != undone))
    out = dst / Path(undone["source"]).relative_to(src)
    leftover = out.with_name(out.name + ".tmp4242.jpg")
    leftover.write_bytes(b"half a jpeg")
    other = dst / "Colin_Powell" / "someone_else.jpg.tmp7.jpg"
    other.write_bytes(b"not ours")
    assert main(["align", str(src), str(dst), "--method", "box", "--size", "160", "--workers", "1",
                 "--no-progress"]) == 0
    assert "1 aligned now, 5 done before" in capsys.readouterr().out
    assert not leftover.exists() and other.exists() and Image.open(out).size == (160, 160)
    assert main(["align", str(src), str(dst), "--method", "five-point", "--no-progress"]) == 2  # other settings
    pre = preprocessing_for([str(dst)], 96, None)
    assert pre.alignment == "box" and pre.align_size == 160 and pre.margin == 32.0
    assert preprocessing_for([str(src)], 96, None).alignment == "lfw"


def test_shards_together_write_what_one_process_writes(tmp_path):
    """`faceprint align --shard i/n`: two shards at once into one folder give the single run's files byte for byte,
    and any later run (sharded or not) finds everything done."""
    import shutil
    import subprocess
    import sys

    from faceprint.demo import PHOTOS

    src = tmp_path / "src"
    for d in sorted(PHOTOS.iterdir())[:3]:
        shutil.copytree(d, src / d.name)
    one, two = tmp_path / "one", tmp_path / "two"
    cmd = [sys.executable, "-m", "faceprint", "align", str(src)]
    assert subprocess.run([*cmd, str(one), "--workers", "1", "--no-progress"], capture_output=True).returncode == 0
    shards = [subprocess.Popen([*cmd, str(two), "--shard", f"{i}/2", "--workers", "1", "--no-progress"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    assert all(p.wait(300) == 0 for p in shards)
    outputs = sorted(p.relative_to(one) for p in one.rglob("*.jpg"))
    assert outputs and outputs == sorted(p.relative_to(two) for p in two.rglob("*.jpg"))
    assert all((one / r).read_bytes() == (two / r).read_bytes() for r in outputs)
    assert sorted(p.name for p in two.glob("manifest*")) == ["manifest.shard-0-of-2.jsonl",
                                                             "manifest.shard-1-of-2.jsonl"]
    again = subprocess.run([*cmd, str(two), "--no-progress"], capture_output=True, text=True)
    assert again.returncode == 0 and " 0 aligned now" in again.stdout, again.stdout
    bad = subprocess.run([*cmd, str(two), "--shard", "2/2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "0 <= i < n" in bad.stderr
