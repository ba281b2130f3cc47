#!/usr/bin/env bash
# A finer map against the whole-film map: FINE224 (studies/recipes.sh, MAP224 at model.map_stride=4) on cv-map224's
# folds, paired with it (studies/against_map224.sh); studies/box_rule.py --against pairs the two models' boxes
# (docs/studies/fracture_map.md, "A finer map"). Usage: bash studies/finer_map.sh; STUDY_RUN_FOLDS, STUDY_SEEDS,
# STUDY_FOLDS and STUDY_DATA as there.
set -euo pipefail
exec bash "$(dirname "$0")/against_map224.sh" cv-fine224 FINE224 reports/compare-finer-map
