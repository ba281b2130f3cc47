#!/usr/bin/env bash
# The hand and wrist recipe search: each recipe of studies/recipes.sh cross-validated on the same grouped folds of
# FracAtlas (every film tested once), over each seed of STUDY_SEEDS, then one paired comparison of the pooled
# results, overall and per region, with a verdict per recipe over its seeds and the choice confirmed fold by fold.
# Resumable: finished folds are skipped. Usage: bash studies/hand_recipe.sh [RECIPE ...]
#   (default: all, in order); STUDY_SEEDS (default 42: train.seed; 42 is named cv-RECIPE, another seed S
#   cv-RECIPE-sS), STUDY_FOLDS (default 3) and STUDY_DATA as for studies/cross_validation.sh.
set -euo pipefail
here=$(dirname "$0")
source "$here/recipes.sh"
export STUDY_FOLDS=${STUDY_FOLDS:-3}

recipes=("${@:-base fast modern modern224}")
for seed in ${STUDY_SEEDS:-42}; do
  for recipe in ${recipes[*]}; do
    declare -n arguments="${recipe^^}"
    name="cv-$recipe"
    [ "$seed" = 42 ] || name="$name-s$seed"
    bash "$here/cross_validation.sh" "$name" "${arguments[@]}" -S "train.seed=$seed"
  done
done
python -m fracture compare --baseline cv-base --out reports/compare-hand-recipe
