"""Stage filter: keep the requested regions, reject unusable images, drop duplicates."""

import logging

from fracture.core.errors import run_stage
from fracture.core.parallel import worker_count
from fracture.core.params import load_params
from fracture.core.paths import FILTER_REPORT, FILTERED, RAW
from fracture.core.storage import atomic_path, write_json
from fracture.data.filter import apply_filter, filter_config
from fracture.data.manifest import read_manifest, write_manifest

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
