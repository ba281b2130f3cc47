"""Stage enhance: letterbox, filter chain, PSNR/SSIM against unfiltered, arrays for training, and the fracture
annotations placed in the same squares."""

import logging

import numpy as np

from fracture.core.errors import run_stage
from fracture.core.parallel import worker_count
from fracture.core.params import load_params
from fracture.core.paths import ENHANCE_REPORTS, PROCESSED, RAW, SPLIT_DATA
from fracture.core.storage import atomic_path, read_json, write_json
from fracture.data.enhance import enhance, enhance_config, montage_rows, placed_annotations
from fracture.data.manifest import COLUMNS, read_manifest, write_manifest
from fracture.imaging.montage import montage
from fracture.imaging.preprocessing import ANNOTATIONS_FILE, IMAGES_FILE, MANIFEST_FILE

log = logging.getLogger("stages.enhance")



def main() -> None:
    params = load_params()
    config = enhance_config(params)
    manifest = read_manifest(SPLIT_DATA / "manifest.csv", required=COLUMNS + ["split"])
    size = config.preprocessing.image_size
    with atomic_path(PROCESSED, directory=True) as staging:
        images = np.lib.format.open_memmap(staging / IMAGES_FILE, mode="w+", dtype=np.uint8,
                                           shape=(len(manifest), size, size))  # written in place, never in memory twice
        report, shapes = enhance(manifest, RAW, config, images, worker_count(params))
        images.flush()
        write_manifest(manifest, staging / MANIFEST_FILE)
        config.preprocessing.write(staging)
        annotations = read_json(RAW / ANNOTATIONS_FILE)["images"] if (RAW / ANNOTATIONS_FILE).is_file() else {}
        write_json(staging / ANNOTATIONS_FILE, placed_annotations(manifest, shapes, annotations, config.preprocessing))
    ENHANCE_REPORTS.mkdir(parents=True, exist_ok=True)
    write_json(ENHANCE_REPORTS / "metrics.json", report)
    rows, columns, titles = montage_rows(manifest, RAW, config)
    with atomic_path(ENHANCE_REPORTS / "montage.png") as temporary:
        montage(rows, columns, titles).save(temporary, format="PNG")
    log.info(f"enhance: {len(manifest)} images at {size}px through {report['filters']}")


if __name__ == "__main__":
    run_stage(main)
