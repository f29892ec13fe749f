# Run M: run G plus the photos it never trains on, as unlabelled faces taught by the teacher alone (`--unlabelled`):
# the 6,514 people with one photo in LFW and the CelebA sets (`python experiments/make_singles.py runs/data/singles
# runs/data/lfw_chip runs/data/celeba_chip runs/data/celeba10k_chip`; each split leaves its test people's out, by
# folder name), 60 per batch beside run G's 240 labelled faces. Tests whether the student's open-set gap is data.
# Resumable: run again.
bash "$(dirname "$0")/student_g.sh" --unlabelled runs/data/singles --unlabelled-per-batch 60 --max-minutes 600 \
  --out runs/bench_student_m "$@"
