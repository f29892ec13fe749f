# Run L: run G with the teacher embedding each step's views as the student sees them (`--teacher-online`: the same
# random window, flip and colour jitter, instead of one stored flip-summed target per file), nothing else changed:
# "consistent" distillation (Beyer et al., CVPR 2022). A teacher forward pass costs ~0.6x the student's forward +
# backward on this VM (240 faces, bf16, one thread), so ~1.5x run G's time. Resumable: run again.
bash "$(dirname "$0")/student_g.sh" --teacher-online --max-minutes 600 --out runs/bench_student_l "$@"
