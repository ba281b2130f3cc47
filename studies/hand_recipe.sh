#!/usr/bin/env bash
# The hand and wrist recipe search: each recipe of studies/recipes.sh cross-validated on the same grouped folds of
# FracAtlas (every film tested once), then one paired comparison of the pooled results, overall and per region.
# Resumable: finished folds are skipped. Usage: bash studies/hand_recipe.sh [RECIPE ...]
#   (default: all, in order); STUDY_FOLDS (default 3) and STUDY_DATA as for studies/cross_validation.sh.
set -euo pipefail
here=$(dirname "$0")
source "$here/recipes.sh"
export STUDY_FOLDS=${STUDY_FOLDS:-3}

recipes=("${@:-base fast modern modern224}")
for recipe in ${recipes[*]}; do
  declare -n arguments="${recipe^^}"
  bash "$here/cross_validation.sh" "cv-$recipe" "${arguments[@]}"
done
python -m fracture compare --baseline cv-base --out reports/compare-hand-recipe
