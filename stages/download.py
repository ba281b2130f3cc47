"""Stage download: put the configured data source under data/raw with its manifest and fracture annotations."""

import logging

from fracture.errors import run_stage
from fracture.manifest import write_manifest
from fracture.params import load_params
from fracture.paths import RAW
from fracture.sources import acquire, data_config
from fracture.storage import atomic_path, write_json

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
