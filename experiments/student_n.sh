# Run N: run G's recipe on the teacher's whole network (`dlib_resnet_v1`, all 14 blocks) instead of the 10-block
# slim cut, split 1 only (trained on the other folds' people; the people of LFW View 2 folds 6-10 left out, as
# `benchmark lfw` writes them into splitN_test_people.txt: any split-1 student run's file will do). A capacity test:
# if the whole network trained the same way keeps the teacher's open set, the slim cut is what loses it; if it
# loses the same, the training on ~16,000 photos does. Two threads, one process. Resumable: run again.
X=${X:-runs/bench_student_m/split1_test_people.txt}
OMP_NUM_THREADS=2 .venv/bin/faceprint train --out runs/bench_student_n/split1 --resume \
  --data runs/data/lfw_chip --data runs/data/celeba_chip --data runs/data/celeba10k_chip --exclude "$X" \
  --cache-dir runs/cache --teacher src/faceprint/weights/default.pt --teacher-input crops \
  --init src/faceprint/weights/default.pt --backbone dlib_resnet_v1 --distill-weight 2.0 --relation-weight 10.0 \
  --p 30 --k 8 --optimizer adam --lr 1e-4 --schedule cosine --warmup-steps 20 --steps 1200 --max-minutes 600 \
  --val-every 100 --checkpoint-every 25 --val-split 0.05 --bf16 --threads 2 --no-progress "$@"
