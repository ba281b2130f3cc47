#!/usr/bin/env bash
# Queue the FracAtlas study: transfer learning, architecture, filter and how the film is fitted into the square, on
# real films; each run's report also says where its Grad-CAM looks and how it does without shortcut films.
# Usage: bash studies/fracatlas_large.sh [DATA_FOLDER]; then `dvc queue start -j 1` and, when the
# queue is empty, `python -m fracture compare --baseline fa-simple-cnn`.
# Sized for 2 CPU cores (128 px, 10 epochs; about 45 minutes in all). On a GPU, pass
# STUDY_IMAGE_SIZE=224 STUDY_EPOCHS=30 in the environment.
set -euo pipefail

data=$(realpath "${1:-../shared/data/fracatlas_large}")
test -f "$data/labels.csv" || { echo "study: no labels.csv in $data; pass the FracAtlas folder as the first argument" >&2; exit 1; }

common=(-S data.source=folder -S "data.path=$data" -S 'filter.regions=[all]'
        -S "enhance.image_size=${STUDY_IMAGE_SIZE:-128}" -S "train.epochs=${STUDY_EPOCHS:-10}")
# Fine-tuning as seed 003 did it, made gentler: one head-only epoch, then the backbone at a tenth of the head's rate.
fine_tune=(-S model.arch=efficientnet_lite0 -S model.pretrained=true -S train.freeze_epochs=1
           -S train.backbone_lr_factor=0.1)

queue() { local name=$1; shift; dvc exp run --queue --name "$name" "${common[@]}" "$@"; }

queue fa-simple-cnn       -S model.arch=simple_cnn
queue fa-resnet18         -S model.arch=resnet18
queue fa-lite0-scratch    -S model.arch=efficientnet_lite0
queue fa-lite0-full       -S model.arch=efficientnet_lite0 -S model.pretrained=true
queue fa-lite0-clahe      "${fine_tune[@]}" -S 'enhance.filters=[clahe]'
queue fa-lite0-none       "${fine_tune[@]}" -S 'enhance.filters=[none]'
queue fa-lite0-median     "${fine_tune[@]}" -S 'enhance.filters=[median]'
queue fa-lite0-stretch    "${fine_tune[@]}" -S 'enhance.filters=[none]' -S enhance.fit=stretch
queue fa-lite0-clahe-s1   "${fine_tune[@]}" -S 'enhance.filters=[clahe]' -S train.seed=1
queue fa-lite0-clahe-s2   "${fine_tune[@]}" -S 'enhance.filters=[clahe]' -S train.seed=2
