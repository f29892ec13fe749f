# Run G: run F + distillation weight 2.0 + relational distillation 10.0, 1,200 cosine steps. Resumable: run again.
S=../shared/data
OMP_NUM_THREADS=1 .venv/bin/faceprint benchmark lfw --lfw-dir $S/lfw/lfw-deepfunneled --protocol-dir $S/lfw/protocol \
  --lfw-train-dir runs/data/lfw_chip --data runs/data/celeba_chip --data runs/data/celeba10k_chip --splits 2 \
  --parallel 2 --threads 1 --out runs/bench_student_g --cache-dir runs/cache --teacher src/faceprint/weights/default.pt \
  --teacher-input crops --init src/faceprint/weights/default.pt --backbone dlib_resnet_slim --distill-weight 2.0 \
  --relation-weight 10.0 --p 30 --k 8 --optimizer adam --lr 1e-4 --schedule cosine --warmup-steps 20 --steps 1200 \
  --max-minutes 150 --val-every 100 --checkpoint-every 25 --val-split 0.05 --bf16 --no-progress "$@"
