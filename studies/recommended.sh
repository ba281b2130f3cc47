#!/usr/bin/env bash
# The recommended recipe for real films (docs/studies/fracatlas.md, "A recipe for hand and wrist films", answering
# through the fracture map of docs/studies/fracture_map.md) trained on your own labelled films as one DVC
# experiment; the test split, report and model card follow as for any run.
# Usage: bash studies/recommended.sh DATA_FOLDER [NAME]
#   (DATA_FOLDER as data.path takes it for data.source=folder: a labels.csv, or one folder per label).
# Cross-validated instead, every film tested once: STUDY_DATA=DATA_FOLDER bash studies/hand_recipe.sh recommended
set -euo pipefail
here=$(dirname "$0")
source "$here/recipes.sh"
data=${1:?usage: bash studies/recommended.sh DATA_FOLDER [NAME]}
test -d "$data" || { echo "recommended: $data is not a folder; pass the folder of your labelled films" >&2; exit 1; }
dvc exp run --name "${2:-recommended}" -S data.source=folder -S "data.path=$(realpath "$data")" \
  -S 'filter.regions=[all]' "${RECOMMENDED[@]}"
