"""Stage filter: keep the requested regions, reject unusable images, drop duplicates."""

import logging

from fracture.errors import run_stage
from fracture.manifest import read_manifest, write_manifest
from fracture.parallel import worker_count
from fracture.params import load_params
from fracture.paths import FILTER_REPORT, FILTERED, RAW
from fracture.selection import apply_filter, filter_config
from fracture.storage import atomic_path, write_json

log = logging.getLogger("stages.filter")



def main() -> None:
    params = load_params()
    config = filter_config(params)
    kept, rejected, report = apply_filter(read_manifest(RAW / "manifest.csv"), RAW, config, worker_count(params))
    with atomic_path(FILTERED, directory=True) as staging:
        write_manifest(kept, staging / "manifest.csv")
        write_manifest(rejected, staging / "rejected.csv")
    write_json(FILTER_REPORT, report)
    log.info(f"filter: kept {len(kept)} of {report['images_in_regions']} images in {', '.join(config.regions)}; "
          f"rejected {len(rejected)} (reasons in {FILTER_REPORT})")


if __name__ == "__main__":
    run_stage(main)
