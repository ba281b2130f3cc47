#!/usr/bin/env bash
# Regressed boxes against the map's extent boxes: BOX224 (studies/recipes.sh, MAP224 at model.map_box=regressed) on
# cv-map224's folds, paired with it (studies/against_map224.sh); studies/box_rule.py --against pairs the two models'
# boxes (docs/studies/fracture_map.md, "Regressed boxes"). Usage: bash studies/regressed_boxes.sh; STUDY_RUN_FOLDS,
# STUDY_SEEDS, STUDY_FOLDS and STUDY_DATA as there.
set -euo pipefail
exec bash "$(dirname "$0")/against_map224.sh" cv-box224 BOX224 reports/compare-regressed-boxes
