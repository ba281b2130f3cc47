"""Per-epoch logging with dvclive, kept out of dvc.yaml and of git.

The pipeline declares dvclive's files as metrics and plots itself, so dvclive
must neither write dvc.yaml nor save experiments of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dvclive import Live
from scmrepo.exceptions import SCMError

from fracture.core.errors import UserError
from fracture.training.loop import EpochResult

log = logging.getLogger(__name__)


def open_live(directory: Path) -> Live:
    try:
        return Live(dir=str(directory), dvcyaml=None, save_dvc_exp=False, report=None)
    except SCMError as error:
        raise UserError(f"dvclive cannot read the git repository ({error}); commit once "
                        f"(git add -A && git commit) before dvc repro") from None


def log_epoch(live: Live, epoch: EpochResult) -> None:
    for name, value in (("train/loss", epoch.train_loss), ("val/loss", epoch.val_loss),
                        ("val/auc", epoch.val_auc), ("lr", epoch.lr)):
        live.log_metric(name, value)
    live.next_step()
    log.info(f"epoch {epoch.epoch}: train loss {epoch.train_loss:.4f}, val loss {epoch.val_loss:.4f}, "
             f"val AUC {epoch.val_auc:.4f}, val output spread {epoch.val_spread:.4f}")
