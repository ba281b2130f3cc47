#!/usr/bin/env bash
# Grouped K-fold cross-validation of one recipe on real films: fold i of K runs as the experiment NAME-fI, and
# folds already finished are skipped, so an interrupted study resumes where it stopped. `python -m fracture
# compare` pools the folds into one out-of-fold result per recipe.
# Usage: bash studies/cross_validation.sh NAME [-S key=value ...]
#   STUDY_FOLDS (default 5), STUDY_DATA (default ../shared/data/fracatlas_large) and STUDY_RUN_FOLDS (the folds to
#   run, default all of them: "0" measures a recipe on one fold) in the environment.
set -euo pipefail

name=${1:?usage: bash studies/cross_validation.sh NAME [-S key=value ...]}
shift
folds=${STUDY_FOLDS:-5}
data=$(realpath "${STUDY_DATA:-../shared/data/fracatlas_large}")
test -f "$data/labels.csv" || { echo "study: no labels.csv in $data; set STUDY_DATA to a labelled folder" >&2; exit 1; }

finished=$(dvc exp list --all-commits --name-only 2>/dev/null || true)  # a new commit keeps the folds run before it
for fold in ${STUDY_RUN_FOLDS:-$(seq 0 $((folds - 1)))}; do
  if grep -qx -- "$name-f$fold" <<<"$finished"; then
    echo "study: $name-f$fold already finished"
    continue
  fi
  echo "study: $name fold $fold of $folds, started $(date -u +%H:%M:%S)"
  dvc exp run --temp --name "$name-f$fold" -S data.source=folder -S "data.path=$data" -S 'filter.regions=[all]' \
    -S "split.folds=$folds" -S "split.fold=$fold" "$@"
done
