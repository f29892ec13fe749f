# Run J: run G + `--tail-weight 10 --tail-k 5` (one change, aimed at the open-set tail of docs/experiments.md item
# 10: same-person pairs the student holds farther apart than the teacher, and each face's 5 nearest strangers it
# holds nearer, penalised one-sided). Resumable: run again.
bash "$(dirname "$0")/student_g.sh" --tail-weight 10 --tail-k 5 --out runs/bench_student_j "$@"
