# dlib chips of the three face sets (MTCNN landmarks, central face, 150 px), two lanes side by side.
set -x
mkdir -p runs/logs runs/data
F=.venv/bin/faceprint
($F align ../shared/data/lfw/lfw-deepfunneled runs/data/lfw_chip --method dlib-chip --size 150 --select central > runs/logs/chip_lfw.log 2>&1) &
($F align ../shared/data/celeba-aligned-10k/images runs/data/celeba10k_chip --method dlib-chip --size 150 --select central > runs/logs/chip_c10k.log 2>&1; $F align ../shared/data/celeba-subset/images runs/data/celeba_chip --method dlib-chip --size 150 --select central > runs/logs/chip_c.log 2>&1) &
wait
