# Run H: run G with relational distillation 30.0 (one change; a later flag wins). Resumable: run again.
bash "$(dirname "$0")/student_g.sh" --relation-weight 30.0 --out runs/bench_student_h "$@"
