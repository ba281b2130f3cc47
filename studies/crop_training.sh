#!/usr/bin/env bash
# Crop training against the whole-film map: CROP448 (studies/recipes.sh) cross-validated on the same grouped folds
# of FracAtlas as cv-map224 (studies/fracture_map.sh, run it first), then compared with it and with cv-modern224
# on the folds it ran, paired on the same films. Resumable: finished folds are skipped.
# Usage: bash studies/crop_training.sh; STUDY_RUN_FOLDS (default every fold; "0" is the one-fold measurement of
#   docs/studies/fracture_map.md), STUDY_SEEDS (default 42), STUDY_FOLDS (default 3) and STUDY_DATA as for
#   studies/cross_validation.sh.
set -euo pipefail
here=$(dirname "$0")
source "$here/recipes.sh"
export STUDY_FOLDS=${STUDY_FOLDS:-3}
run_folds=${STUDY_RUN_FOLDS:-$(seq 0 $((STUDY_FOLDS - 1)))}
export STUDY_RUN_FOLDS=$run_folds
for seed in ${STUDY_SEEDS:-42}; do
  name="cv-crop448"
  [ "$seed" = 42 ] || name="$name-s$seed"
  bash "$here/cross_validation.sh" "$name" "${CROP448[@]}" -S "train.seed=$seed"
done
folds=$(tr -s ' \n' '|' <<<"$run_folds" | sed 's/^|//; s/|$//')
python -m fracture compare --baseline "cv-map224$([ "$(wc -w <<<"$run_folds")" = 1 ] && echo "-f$run_folds")" \
  --out reports/compare-crop-training \
  $(dvc exp list --all-commits --name-only | grep -E "^cv-(modern224|map224|crop448)(-s[0-9]+)?-f($folds)\$")
