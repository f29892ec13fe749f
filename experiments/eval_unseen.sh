# A model on people it never saw (LFW folds 6-10 chips), with its own and with refitted thresholds: two lanes,
# one thread each. M: the model (default: run G's split-1 student), O: where the results go. PHOTOS=1: LFW's own
# deep-funneled images of the same people (`python experiments/make_unseen.py photos`), taken as crops as
# `benchmark lfw` tests them: for the from-scratch models, which were trained on such crops.
M=${M:-runs/bench_student_g/split1/best.pt}; O=${O:-runs/eval_g}; mkdir -p $O
F=".venv/bin/faceprint"; c="--input crops --no-progress --cache-dir runs/cache"
if [ -n "$PHOTOS" ]; then
  for d in unseen125 lfw610_open lfw15_calib; do ln -sfn ${d}_photos runs/data/${d}_in; done
else
  ln -sfn unseen125_chip runs/data/unseen125_in; ln -sfn lfw610_open runs/data/lfw610_open_in; ln -sfn lfw15_calib runs/data/lfw15_calib_in
fi
export OMP_NUM_THREADS=1
( $F evaluate identify --model $M --data runs/data/unseen125_in $c --json $O/identify.json > $O/identify.log 2>&1
  $F evaluate cluster --model $M --data runs/data/unseen125_in $c --json $O/cluster.json > $O/cluster.log 2>&1
  $F calibrate --open-set --model $M --data runs/data/lfw610_open_in $c --out $O/open_oracle.pt > $O/open_oracle.log 2>&1 ) &
( $F calibrate --model $M --data runs/data/lfw15_calib_in $c --out $O/refit1.pt > $O/refit1.log 2>&1
  $F calibrate --open-set --model $O/refit1.pt --data runs/data/lfw15_calib_in $c --out $O/refit2.pt > $O/refit2.log 2>&1
  $F calibrate --clustering --model $O/refit2.pt --data runs/data/lfw15_calib_in $c --out $O/refit.pt > $O/refit3.log 2>&1
  $F evaluate identify --model $O/refit.pt --data runs/data/unseen125_in $c --json $O/identify_refit.json > $O/identify_refit.log 2>&1
  $F evaluate cluster --model $O/refit.pt --data runs/data/unseen125_in $c --json $O/cluster_refit.json > $O/cluster_refit.log 2>&1 ) &
wait
