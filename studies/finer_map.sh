#!/usr/bin/env bash
# A finer map against the whole-film map: FINE224 (studies/recipes.sh, MAP224 at model.map_stride=4) cross-validated
# on the same grouped folds of FracAtlas as cv-map224 (studies/fracture_map.sh, run it first), then compared with it
# on the folds it ran, paired on the same films. Resumable: finished folds are skipped. The boxes of the two are
# paired by studies/box_rule.py --against (docs/studies/fracture_map.md, "A finer map").
# Usage: bash studies/finer_map.sh; STUDY_RUN_FOLDS (default every fold), STUDY_SEEDS (default 42), STUDY_FOLDS
#   (default 3) and STUDY_DATA as for studies/cross_validation.sh.
set -euo pipefail
here=$(dirname "$0")
source "$here/recipes.sh"
export STUDY_FOLDS=${STUDY_FOLDS:-3}
run_folds=${STUDY_RUN_FOLDS:-$(seq 0 $((STUDY_FOLDS - 1)))}
export STUDY_RUN_FOLDS=$run_folds
for seed in ${STUDY_SEEDS:-42}; do
  name="cv-fine224"
  [ "$seed" = 42 ] || name="$name-s$seed"
  bash "$here/cross_validation.sh" "$name" "${FINE224[@]}" -S "train.seed=$seed"
done
folds=$(tr -s ' \n' '|' <<<"$run_folds" | sed 's/^|//; s/|$//')
python -m fracture compare --baseline "cv-map224$([ "$(wc -w <<<"$run_folds")" = 1 ] && echo "-f$run_folds")" \
  --out reports/compare-finer-map \
  $(dvc exp list --all-commits --name-only | grep -E "^cv-(map224|fine224)(-s[0-9]+)?-f($folds)\$")
