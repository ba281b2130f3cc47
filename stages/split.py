"""Stage split: train/val/test grouped by patient, stratified by label, proven leak-free."""

from pathlib import Path

from fracture.errors import run_stage
from fracture.manifest import read_manifest, write_manifest
from fracture.params import load_params
from fracture.splitting import assign_splits, check_split, print_counts, split_config, split_report
from fracture.storage import write_json

FILTERED = Path("data/filtered/manifest.csv")
SPLIT = Path("data/split/manifest.csv")
REPORT = Path("reports/split.json")


def main() -> None:
    config = split_config(load_params())
    manifest = read_manifest(FILTERED)
    manifest["split"] = assign_splits(manifest, config)
    found = check_split(manifest)
    used_official = config.official_test and manifest["source_split"].isin(("valid", "test")).any()
    report = split_report(manifest, found, bool(used_official))
    write_manifest(manifest, SPLIT)
    write_json(REPORT, report)
    print_counts(report)


if __name__ == "__main__":
    run_stage(main)
