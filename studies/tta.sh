#!/usr/bin/env bash
# Test-time augmentation on real films (docs/studies/fracatlas.md): the recipe then recommended, fa-lite0-none's,
# with train.tta none and hflip (the same weights: TTA changes only how validation and test films are scored),
# then the paired comparison.
# Usage: bash studies/tta.sh [DATA_FOLDER]   (about 12 minutes on 2 CPU cores)
set -euo pipefail

data=$(realpath "${1:-../shared/data/fracatlas_large}")
test -f "$data/labels.csv" || { echo "study: no labels.csv in $data; pass the FracAtlas folder as the first argument" >&2; exit 1; }

recipe=(-S data.source=folder -S "data.path=$data" -S 'filter.regions=[all]' -S enhance.image_size=128
        -S 'enhance.filters=[none]' -S train.epochs=10 -S model.arch=efficientnet_lite0 -S model.pretrained=true
        -S train.freeze_epochs=1 -S train.backbone_lr_factor=0.1)
for tta in none hflip; do
  dvc exp run --temp --name "fa-tta-$tta" "${recipe[@]}" -S "train.tta=$tta"
done
python -m fracture compare fa-tta-none fa-tta-hflip --baseline fa-tta-none --out reports/compare-tta
