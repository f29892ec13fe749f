# Run O: run N (the teacher's whole network, run G's recipe, split 1 only) at a fifth of the learning rate
# (Adam 2e-5 instead of 1e-4, same cosine schedule): does a gentler recipe keep what run G's costs the teacher's
# own network? Resumable: run again.
bash "$(dirname "$0")/student_n.sh" --lr 2e-5 --out runs/bench_student_o/split1 "$@"
