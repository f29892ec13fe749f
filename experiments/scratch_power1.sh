# From scratch, no teacher: run 6's recipe (docs/experiments.md) with identities drawn by their photo counts
# (--identity-power 1), the one change. Needs runs/data/celeba10k_lfw (`faceprint align
# ../shared/data/celeba-aligned-10k/images runs/data/celeba10k_lfw --method lfw --select central`).
# Pauses at --max-minutes; the same command continues it.
S=../shared/data
OMP_NUM_THREADS=1 .venv/bin/faceprint benchmark lfw --lfw-dir $S/lfw/lfw-deepfunneled --protocol-dir $S/lfw/protocol \
  --data $S/celeba-subset/images --data runs/data/celeba10k_lfw --out runs/bench_scratch_p1 \
  --parallel 2 --threads 1 --backbone resnet10_quarter --input-size 80 --p 20 --k 8 --schedule cosine \
  --steps 9500 --val-split 0.05 --val-num-pairs 3000 --val-every 500 --checkpoint-every 250 \
  --identity-power 1 --max-minutes 35 --no-bf16 --no-progress "$@"
