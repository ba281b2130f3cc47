"""Stage split: train/val/test grouped by patient, stratified by label, proven leak-free; and each covariate's
power to predict the label on the training split, measured before any training."""

import logging

from fracture.core.errors import run_stage
from fracture.core.params import load_params
from fracture.core.paths import FILTERED, SPLIT_DATA, SPLIT_REPORT
from fracture.core.storage import write_json
from fracture.data.manifest import read_manifest, write_manifest
from fracture.data.split import (
    assign_splits,
    check_split,
    count_table,
    cross_validation_summary,
    split_config,
    split_report,
    uses_official_test,
)
from fracture.evaluation.shortcuts import findings, shortcut_check

log = logging.getLogger("stages.split")


def main() -> None:
    config = split_config(load_params())
    manifest = read_manifest(FILTERED / "manifest.csv")
    manifest["split"] = assign_splits(manifest, config)
    found = check_split(manifest)
    report = split_report(manifest, found, uses_official_test(manifest, config))
    report["shortcuts"] = shortcut_check(manifest, config.shortcut_auc, config.seed)
    if config.folds:
        report["cross_validation"] = cross_validation_summary(manifest, config)
    write_manifest(manifest, SPLIT_DATA / "manifest.csv")
    write_json(SPLIT_REPORT, report)
    log.info(f"split: grouped by {report['grouping']['description']}\n{count_table(report)}")
    for finding in findings(report["shortcuts"]):
        also = f"; evaluate also scores the test split {finding['text']}" if finding["text"] else ""
        log.warning(f"split: {finding['covariate']} may be a shortcut: {finding['reason']}{also}")


if __name__ == "__main__":
    run_stage(main)
