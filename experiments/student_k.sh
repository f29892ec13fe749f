# Run K: run G at twice the schedule (2,400 cosine steps instead of 1,200; nothing else changed), the one lever of
# docs/experiments.md items 12-13 not yet tried on the student's open-set gap. ~160 minutes for both splits on the
# 2-core VM plus the LFW test: resumable, run again to go on (checkpoints every 25 steps).
bash "$(dirname "$0")/student_g.sh" --steps 2400 --max-minutes 600 --out runs/bench_student_k "$@"
