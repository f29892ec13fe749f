# After a student run: the unseen-people jobs (eval_unseen.sh) of its split-1 model, its embeddings of lfw610_open
# and of the cohort, the open-set tail split beside the teacher's (open_set_tail.py) and cohort normalisation
# (open_set_snorm.py). R: the run folder, T: a short tag for the outputs. E.g. R=runs/bench_student_j T=j.
R=${R:?the run folder, e.g. runs/bench_student_j}; T=${T:?a tag, e.g. j}
M=$R/split1/best.pt O=runs/eval_$T bash "$(dirname "$0")/eval_unseen.sh"
F=.venv/bin/faceprint; c="--input crops --cache-dir runs/cache --no-progress"
[ -f runs/analysis/teacher_open.npz ] || $F embed runs/data/lfw610_open $c --out runs/analysis/teacher_open.npz
$F embed runs/data/lfw610_open $c --model $R/split1/best.pt --out runs/analysis/${T}_open.npz
$F embed runs/data/celeba_cohort2k $c --model $R/split1/best.pt --out runs/analysis/${T}_cohort.npz
.venv/bin/python experiments/open_set_tail.py runs/analysis/teacher_open.npz runs/analysis/${T}_open.npz
.venv/bin/python experiments/open_set_snorm.py runs/analysis/${T}_open.npz runs/analysis/${T}_cohort.npz
