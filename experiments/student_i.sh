# Run I: run G with each triplet's margin from the teacher's distances (--teacher-margin 1.0: the teacher's
# d(a,n) - d(a,p), clipped to [0, 1.0]; one change, aimed at the open-set tail). Resumable: run again.
bash "$(dirname "$0")/student_g.sh" --teacher-margin 1.0 --out runs/bench_student_i "$@"
