# Issue 30: accuracy with YuNet (landmarks mapped to MTCNN's) against MTCNN, for the default model and --model dlib:
# LFW View 2 through the photo path, and the unseen-people figures of the model card on YuNet's crops of the same
# people and files (MTCNN's are made by experiments/reid_eval.sh). Writes runs/yunet/.
set -x
mkdir -p runs/yunet runs/data
F=.venv/bin/faceprint; O=runs/yunet; c="--input crops --no-progress --cache-dir runs/cache"; LFW=../shared/data/lfw
[ -f runs/data/lfw_reid_yunet/.done ] || { $F align $LFW/lfw-deepfunneled runs/data/lfw_reid_yunet --method five-point-reid --size 128 --select central --detector yunet --no-progress > $O/align.log 2>&1 && touch runs/data/lfw_reid_yunet/.done; }
[ -d runs/data/lfw15_calib_reidyunet ] || .venv/bin/python experiments/make_unseen.py from runs/data/lfw_reid_yunet _reidyunet
M=src/faceprint/weights/default.pt
$F calibrate --open-set --model $M --data runs/data/lfw610_open_reidyunet $c --out $O/open_oracle.pt > $O/open_oracle.log 2>&1
$F evaluate identify --model $M --data runs/data/unseen125_reidyunet $c --json $O/identify.json > $O/identify.log 2>&1
$F evaluate cluster --model $M --data runs/data/unseen125_reidyunet $c --json $O/cluster.json > $O/cluster.log 2>&1
for m in default dlib; do
  MM=$M; [ $m = dlib ] && MM=dlib
  [ -f $O/lfw_$m.json ] || $F evaluate lfw --model $MM --lfw-dir $LFW/lfw-deepfunneled --pairs $LFW/protocol/pairs.txt --input photos --detector yunet --no-progress --json $O/lfw_$m.json > $O/lfw_$m.log 2>&1
done
