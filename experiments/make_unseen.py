"""Folders of LFW chips for the unseen-people jobs (split 1's test people = View 2 folds 6-10).
`python experiments/make_unseen.py photos`: the same people and files, as LFW's own deep-funneled photos
(unseen125_photos, lfw610_open_photos, lfw15_calib_photos), for models with another alignment (run with --input photos).
`python experiments/make_unseen.py from runs/data/lfw_reid _reid`: the same people and files from another folder of
crops made by `faceprint align` (unseen125_reid, lfw610_open_reid, lfw15_calib_reid).
`python experiments/make_unseen.py cohort`: runs/data/celeba_cohort2k, one chip of each of 2,000 CelebA-10k people
(none of them in LFW), the cohort of experiments/open_set_snorm.py."""
import os, random, sys
from pathlib import Path
chips = Path("runs/data/lfw_chip")
if not chips.is_dir():  # the photos MTCNN found a face in, as the chips list them: its five-point-reid folder
    chips = Path("runs/data/lfw_reid")
photos = len(sys.argv) > 1 and sys.argv[1] == "photos"
if len(sys.argv) > 1 and sys.argv[1] == "cohort":
    src, dst = Path("runs/data/celeba10k_chip"), Path("runs/data/celeba_cohort2k")
    ids = sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.iterdir()))
    for name in random.Random(0).sample(ids, 2000):
        f = sorted((src / name).iterdir())[0]
        (dst / name).mkdir(parents=True, exist_ok=True)
        if not (dst / name / f.name).exists(): os.symlink(f.resolve(), dst / name / f.name)
    print(dst, 2000, "people, one photo each"); sys.exit()
other = len(sys.argv) > 3 and sys.argv[1] == "from"
source = Path("../shared/data/lfw/lfw-deepfunneled") if photos else Path(sys.argv[2]) if other else chips
lines = Path("../shared/data/lfw/protocol/people.txt").read_text().split("\n")
n, i, folds = int(lines[0]), 1, []
for _ in range(n):
    c = int(lines[i]); folds.append([l.split("\t")[0] for l in lines[i + 1:i + 1 + c]]); i += 1 + c
def people(fs):
    out = {}
    for f in fs:
        for name in folds[f]:
            d = chips / name
            files = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
            if len(files) >= 2: out[name] = files
    return out
def link(dst, sel, cap):
    dst = Path(dst); n = 0
    for name, files in sel.items():
        (dst / name).mkdir(parents=True, exist_ok=True)
        for f in files[:cap]:
            t = dst / name / f
            if not t.exists() and (source / name / f).exists(): os.symlink((source / name / f).resolve(), t)
            n += 1
    print(dst, len(sel), "people", n, "photos")
late, early = people(range(5, 10)), people(range(0, 5))
names = sorted(late)
pick = random.Random(0).sample(names, 125)
sfx = "_photos" if photos else sys.argv[3] if other else ""
link(f"runs/data/unseen125{sfx or '_chip'}", {k: late[k] for k in pick}, 10)
link(f"runs/data/lfw610_open{sfx}", late, 20)
link(f"runs/data/lfw15_calib{sfx}", early, 20)
