#!/usr/bin/env bash
# The core without PyTorch: a second environment with only `pip install .` (no extras), torch made unimportable
# there, and the inference commands a user runs after training, each of which must work. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
fp="$work/venv/bin/faceprint"
"$py" -m pip install -q "$root"
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# any import of torch in this environment fails the run, whoever asks for it
cat > "$site/_no_torch.py" <<'PY'
import sys


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r} (torch is kept out of the core environment)",
                                      name=name)
        return None


sys.meta_path.insert(0, _NoTorch())
PY
echo "import _no_torch" > "$site/_no_torch.pth"
if "$py" -c 'import torch' 2>/dev/null; then echo "core: torch is importable"; exit 1; fi
echo "core: installed $(du -sh "$work/venv" | cut -f1) (no torch)"

photos="$("$py" -c 'from faceprint.demo import PHOTOS; print(PHOTOS)')"
cd "$work"
"$fp" --help >/dev/null
"$fp" demo --out demo
test -s demo/report.html
# LFW photos: the subject is the centred face (Laura_Bush_0002's best face by score x area is the man at its edge)
"$fp" verify --select central "$photos/Laura_Bush/Laura_Bush_0001.jpg" "$photos/Laura_Bush/Laura_Bush_0002.jpg" \
  | tee verify.txt
grep -q SAME verify.txt
"$fp" enroll --gallery g.db --no-progress "$photos"
"$fp" identify --gallery g.db "$photos/Tony_Blair/Tony_Blair_0004.jpg" | tee who.txt
grep -q ": Tony_Blair" who.txt
"$fp" cluster "$photos" --out clusters
"$fp" embed "$photos" --out e.npz
"$fp" gallery info --gallery g.db
"$fp" gallery log --gallery g.db --last 3
"$fp" calibrate --data "$photos" --out calibrated.pt
"$fp" evaluate identify --data "$photos"
# LFW's protocol on the shipped photos (LFW's own people): 2 folds of 10 matched and 10 mismatched pairs
"$py" - "$photos" > pairs.txt <<'PY'
import itertools, random, sys
from pathlib import Path
people = {p.name: len(list(p.glob("*.jpg"))) for p in sorted(Path(sys.argv[1]).iterdir())}
rng = random.Random(0)
same = [(n, a, b) for n, k in people.items() for a, b in itertools.combinations(range(1, k + 1), 2)]
diff = [(a, i, b, j) for a, b in itertools.combinations(people, 2) for i in range(1, 3) for j in range(1, 3)]
rng.shuffle(same), rng.shuffle(diff)
print("2\t10")
for f in range(2):
    for n, a, b in same[f * 10:(f + 1) * 10]:
        print(f"{n}\t{a}\t{b}")
    for a, i, b, j in diff[f * 10:(f + 1) * 10]:
        print(f"{a}\t{i}\t{b}\t{j}")
PY
"$fp" evaluate lfw --lfw-dir "$photos" --pairs pairs.txt
# what needs PyTorch says so in one line, no traceback
for cmd in "train --data $photos --out run" "import dlib --out d.pt" "export --format onnx --out m.onnx" \
           "convert calibrated.pt --out c.pt"; do
  set +e; "$fp" $cmd > out.txt 2>&1; rc=$?; set -e
  if [ $rc -ne 2 ] || grep -q Traceback out.txt || ! grep -q "faceprint\[train\]" out.txt; then
    echo "core: faceprint $cmd did not answer with one line (exit $rc):"; cat out.txt; exit 1
  fi
done
# the service: /health, then an identification with a key
"$py" -m pip install -q "$root[serve]"
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FACEPRINT_API_KEYS=core-smoke-key-0123456789abcdef "$fp" serve --gallery g.db --port "$port" > serve.log 2>&1 &
for _ in $(seq 1 150); do
  "$py" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health')" 2>/dev/null && break
  sleep 0.2
done
"$py" - "$port" "$photos/Laura_Bush/Laura_Bush_0004.jpg" <<'PY'
import json, sys, urllib.request, uuid
port, photo = sys.argv[1], sys.argv[2]
print(urllib.request.urlopen(f"http://127.0.0.1:{port}/health").read().decode())
boundary = uuid.uuid4().hex
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"probe.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n").encode() + open(photo, "rb").read() + f"\r\n--{boundary}--\r\n".encode()
req = urllib.request.Request(f"http://127.0.0.1:{port}/identify", body, method="POST", headers={
    "X-API-Key": "core-smoke-key-0123456789abcdef", "Content-Type": f"multipart/form-data; boundary={boundary}"})
faces = json.loads(urllib.request.urlopen(req).read())["faces"]
print(faces[0]["identity"], faces[0]["distance"])
assert faces[0]["identity"] == "Laura_Bush", faces
PY
if grep -qi "torch" serve.log; then cat serve.log; exit 1; fi
echo "core: every command ran without PyTorch"
