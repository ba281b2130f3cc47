#!/usr/bin/env bash
# Crop training against the whole-film map: CROP448 (studies/recipes.sh) on cv-map224's folds, paired with it
# (studies/against_map224.sh). Usage: bash studies/crop_training.sh; STUDY_RUN_FOLDS ("0" is the one-fold
# measurement of docs/studies/fracture_map.md), STUDY_SEEDS, STUDY_FOLDS and STUDY_DATA as there.
set -euo pipefail
exec bash "$(dirname "$0")/against_map224.sh" cv-crop448 CROP448 reports/compare-crop-training
