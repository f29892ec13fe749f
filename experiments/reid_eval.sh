# Issue 29: Intel's face-reidentification-retail-0095 imported, calibrated as the dlib default was (LFW View 2
# folds 1-5 people), and both networks measured side by side on people no calibration saw (folds 6-10).
# Writes runs/reid/: the calibrated model (reid.pt), logs and JSON reports. Resumable step by step (each step is
# skipped when its output exists).
set -x
mkdir -p runs/logs runs/data runs/reid
F=.venv/bin/faceprint; O=runs/reid; c="--input crops --no-progress --cache-dir runs/cache"
LFW=../shared/data/lfw
[ -f $O/reid_raw.pt ] || $F import openvino --xml ../shared/models/face-reid-0095/face-reidentification-retail-0095.xml --out $O/reid_raw.pt
[ -f runs/data/lfw_reid/alignment.json ] && [ -f runs/data/lfw_reid/.done ] || { $F align $LFW/lfw-deepfunneled runs/data/lfw_reid --method five-point-reid --size 128 --select central --no-progress > runs/logs/align_reid.log 2>&1 && touch runs/data/lfw_reid/.done; }
[ -f runs/data/lfw_chip/.done ] || { $F align $LFW/lfw-deepfunneled runs/data/lfw_chip --method dlib-chip --size 150 --select central --no-progress > runs/logs/align_chip.log 2>&1 && touch runs/data/lfw_chip/.done; }
[ -d runs/data/lfw15_calib ] || .venv/bin/python experiments/make_unseen.py
[ -d runs/data/lfw15_calib_reid ] || .venv/bin/python experiments/make_unseen.py from runs/data/lfw_reid _reid
export OMP_NUM_THREADS=1
D=src/faceprint/weights/dlib.pt; [ -f $D ] || D=src/faceprint/weights/default.pt
( [ -f $O/cal1.pt ] || $F calibrate --model $O/reid_raw.pt --data runs/data/lfw15_calib_reid $c --out $O/cal1.pt > $O/cal1.log 2>&1
  [ -f $O/cal2.pt ] || $F calibrate --open-set --model $O/cal1.pt --data runs/data/lfw15_calib_reid $c --out $O/cal2.pt > $O/cal2.log 2>&1
  [ -f $O/reid.pt ] || $F calibrate --clustering --model $O/cal2.pt --data runs/data/lfw15_calib_reid $c --out $O/reid.pt > $O/cal3.log 2>&1
  $F evaluate identify --model $O/reid.pt --data runs/data/unseen125_reid $c --json $O/identify_reid.json > $O/identify_reid.log 2>&1
  $F evaluate cluster --model $O/reid.pt --data runs/data/unseen125_reid $c --json $O/cluster_reid.json > $O/cluster_reid.log 2>&1
  $F calibrate --open-set --model $O/reid.pt --data runs/data/lfw610_open_reid $c --out $O/open_oracle_reid.pt > $O/open_oracle_reid.log 2>&1 ) &
( $F evaluate identify --model $D --data runs/data/unseen125_chip $c --json $O/identify_dlib.json > $O/identify_dlib.log 2>&1
  $F evaluate cluster --model $D --data runs/data/unseen125_chip $c --json $O/cluster_dlib.json > $O/cluster_dlib.log 2>&1
  $F calibrate --open-set --model $D --data runs/data/lfw610_open $c --out $O/open_oracle_dlib.pt > $O/open_oracle_dlib.log 2>&1 ) &
wait
unset OMP_NUM_THREADS
# LFW View 2 through the photo path (MTCNN, central face, each model's own alignment), one model at a time
for m in reid dlib; do
  M=$O/reid.pt; [ $m = dlib ] && M=$D
  [ -f $O/lfw_$m.json ] || $F evaluate lfw --model $M --lfw-dir $LFW/lfw-deepfunneled --pairs $LFW/protocol/pairs.txt --input photos --no-progress --json $O/lfw_$m.json --plot $O/lfw_$m.png > $O/lfw_$m.log 2>&1
done
