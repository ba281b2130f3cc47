"""Stage download: put the configured data source under data/raw with its manifest and fracture annotations."""

import logging

from fracture.core.errors import run_stage
from fracture.core.params import load_params
from fracture.core.paths import RAW
from fracture.core.storage import atomic_path, write_json
from fracture.data.manifest import write_manifest
from fracture.data.sources import acquire, data_config

log = logging.getLogger("stages.download")



def main() -> None:
    config = data_config(load_params())
    with atomic_path(RAW, directory=True) as staging:
        manifest, annotations = acquire(config, staging)
        write_manifest(manifest, staging / "manifest.csv")
        write_json(staging / "annotations.json", annotations)
    log.info(f"download: {len(manifest)} images from {config.source} in {RAW}")


if __name__ == "__main__":
    run_stage(main)
