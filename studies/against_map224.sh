#!/usr/bin/env bash
# One recipe of studies/recipes.sh cross-validated on the same grouped folds of FracAtlas as cv-map224
# (studies/fracture_map.sh, run it first), then compared with it on the folds it ran, paired on the same films.
# Resumable: finished folds are skipped.
# Usage: bash studies/against_map224.sh NAME RECIPE OUT, e.g. cv-crop448 CROP448 reports/compare-crop-training;
#   STUDY_RUN_FOLDS (default every fold), STUDY_SEEDS (default 42), STUDY_FOLDS (default 3) and STUDY_DATA as for
#   studies/cross_validation.sh.
set -euo pipefail
here=$(dirname "$0")
base=${1:?usage: bash studies/against_map224.sh NAME RECIPE OUT}
recipe="${2:?usage: bash studies/against_map224.sh NAME RECIPE OUT}[@]"
out=${3:?usage: bash studies/against_map224.sh NAME RECIPE OUT}
source "$here/recipes.sh"
export STUDY_FOLDS=${STUDY_FOLDS:-3}
run_folds=${STUDY_RUN_FOLDS:-$(seq 0 $((STUDY_FOLDS - 1)))}
export STUDY_RUN_FOLDS=$run_folds
for seed in ${STUDY_SEEDS:-42}; do
  name="$base"
  [ "$seed" = 42 ] || name="$name-s$seed"
  bash "$here/cross_validation.sh" "$name" "${!recipe}" -S "train.seed=$seed"
done
folds=$(tr -s ' \n' '|' <<<"$run_folds" | sed 's/^|//; s/|$//')
python -m fracture compare --baseline "cv-map224$([ "$(wc -w <<<"$run_folds")" = 1 ] && echo "-f$run_folds")" \
  --out "$out" $(dvc exp list --all-commits --name-only | grep -E "^(cv-map224|$base)(-s[0-9]+)?-f($folds)\$")
