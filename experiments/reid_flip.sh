# Issue 29: is test-time flip worth its cost for the new default? The same figures as experiments/reid_eval.sh with
# `--flip sum` (LFW) and with the flip bound to the model and its thresholds refitted on the same folds 1-5 people
# (`calibrate --test-flip sum`). Run after reid_eval.sh; writes runs/reid/flip_*.
set -x
F=.venv/bin/faceprint; O=runs/reid; c="--input crops --no-progress --cache-dir runs/cache"; LFW=../shared/data/lfw
export OMP_NUM_THREADS=1
( [ -f $O/flip1.pt ] || $F calibrate --test-flip sum --model $O/reid.pt --data runs/data/lfw15_calib_reid $c --out $O/flip1.pt > $O/flip_cal1.log 2>&1
  [ -f $O/flip2.pt ] || $F calibrate --open-set --model $O/flip1.pt --data runs/data/lfw15_calib_reid $c --out $O/flip2.pt > $O/flip_cal2.log 2>&1
  [ -f $O/flip.pt ] || $F calibrate --clustering --model $O/flip2.pt --data runs/data/lfw15_calib_reid $c --out $O/flip.pt > $O/flip_cal3.log 2>&1
  $F evaluate identify --model $O/flip.pt --data runs/data/unseen125_reid $c --json $O/identify_flip.json > $O/identify_flip.log 2>&1
  $F evaluate cluster --model $O/flip.pt --data runs/data/unseen125_reid $c --json $O/cluster_flip.json > $O/cluster_flip.log 2>&1 ) &
( $F calibrate --open-set --test-flip sum --model $O/reid.pt --data runs/data/lfw610_open_reid $c --out $O/open_oracle_flip.pt > $O/open_oracle_flip.log 2>&1 ) &
wait
unset OMP_NUM_THREADS
[ -f $O/lfw_flip.json ] || $F evaluate lfw --model $O/reid.pt --flip sum --lfw-dir $LFW/lfw-deepfunneled --pairs $LFW/protocol/pairs.txt --input photos --no-progress --json $O/lfw_flip.json > $O/lfw_flip.log 2>&1
