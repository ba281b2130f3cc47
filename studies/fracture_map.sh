#!/usr/bin/env bash
# The fracture map against the recommended recipe: MAP224 (studies/recipes.sh) cross-validated on the same grouped
# folds of FracAtlas as the hand search, over each seed of STUDY_SEEDS, then one paired comparison of the pooled
# results against cv-modern224 (the recommended recipe; run it first with
# `STUDY_SEEDS="42 1" bash studies/hand_recipe.sh modern224`). Resumable: finished folds are skipped.
# Usage: bash studies/fracture_map.sh; STUDY_SEEDS (default "42 1"), STUDY_FOLDS (default 3) and STUDY_DATA as for
#   studies/cross_validation.sh.
set -euo pipefail
here=$(dirname "$0")
source "$here/recipes.sh"
export STUDY_FOLDS=${STUDY_FOLDS:-3}
for seed in ${STUDY_SEEDS:-42 1}; do
  name="cv-map224"
  [ "$seed" = 42 ] || name="$name-s$seed"
  bash "$here/cross_validation.sh" "$name" "${MAP224[@]}" -S "train.seed=$seed"
done
python -m fracture compare --baseline cv-modern224 --out reports/compare-fracture-map \
  $(dvc exp list --all-commits --name-only | grep -E '^cv-(modern224|map224)(-s[0-9]+)?-f[0-9]+$')
