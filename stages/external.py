"""Stage external (one per set named in evaluate.external): the trained model measured on an outside labelled set,
as evaluate measures the test split, into reports/external/<name>/."""

import logging
import sys

from fracture.core.errors import UserError, run_stage
from fracture.core.params import load_params
from fracture.core.paths import EXTERNAL_DIR, MODEL
from fracture.evaluation.outside_sets import Settings, external_sets, validate
from fracture.inference.device import resolve_device
from fracture.inference.loaded_model import LoadedModel

log = logging.getLogger("stages.external")



def main() -> None:
    params = load_params()
    sets = external_sets(params)
    name = sys.argv[1] if len(sys.argv) == 2 else ""
    if name not in sets:
        raise UserError(f"external: no set {name!r} in evaluate.external (known: {', '.join(sets) or 'none'}); "
                        f"dvc.yaml runs one stage per set, as python -m stages.external NAME")
    validate(LoadedModel.load(MODEL, resolve_device("auto")), sets[name], EXTERNAL_DIR / name, Settings.of(params))


if __name__ == "__main__":
    run_stage(main)
