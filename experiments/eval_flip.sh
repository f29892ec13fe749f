# The shipped model with test-time flip bound to it (calibrate --test-flip sum on the same LFW folds 1-5 folder the
# shipped thresholds were fitted on), then the three jobs on LFW folds 6-10 people, as runs/eval_g.sh does.
M=${M:-src/faceprint/weights/default.pt}; O=${O:-runs/eval_flip}; mkdir -p $O
F=".venv/bin/faceprint"; c="--input crops --no-progress --cache-dir runs/cache"
export OMP_NUM_THREADS=1
( $F calibrate --test-flip sum --model $M --data runs/data/lfw15_calib $c --out $O/flip1.pt > $O/flip1.log 2>&1
  $F calibrate --open-set --model $O/flip1.pt --data runs/data/lfw15_calib $c --out $O/flip2.pt > $O/flip2.log 2>&1
  $F calibrate --clustering --model $O/flip2.pt --data runs/data/lfw15_calib $c --out $O/flip.pt > $O/flip3.log 2>&1
  $F evaluate identify --model $O/flip.pt --data runs/data/unseen125_chip $c --json $O/identify.json > $O/identify.log 2>&1
  $F evaluate cluster --model $O/flip.pt --data runs/data/unseen125_chip $c --json $O/cluster.json > $O/cluster.log 2>&1 ) &
( $F calibrate --open-set --test-flip sum --model $M --data runs/data/lfw610_open $c --out $O/open_oracle.pt > $O/open_oracle.log 2>&1 ) &
wait
