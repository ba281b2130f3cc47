"""What a finished training run amounts to: collapse check, frozen thresholds, its summary.

The best epoch's model is scored once more on validation. A model whose
probabilities barely vary gave every image the same answer and is flagged;
with `train.calibration` its calibration (temperature or Platt) is fitted on these
probabilities; for the fracture task the image threshold, and where the data
has studies the study threshold, are then chosen on the (calibrated)
validation probabilities and frozen.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
from torch import nn

from fracture.data.processed import SplitData
from fracture.evaluation.metrics import COLLAPSED_SPREAD, binary_metrics, expected_calibration_error, output_spread
from fracture.evaluation.recalibration import fit_calibration
from fracture.evaluation.thresholds import validation_thresholds
from fracture.imaging.preprocessing import Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.checkpoint import CheckpointMetadata, Thresholds, development_images, library_versions
from fracture.inference.predictor import Calibration, predict_probabilities
from fracture.inference.presets import ModelInput
from fracture.training.config import TrainConfig
from fracture.training.loop import FitResult

log = logging.getLogger(__name__)
NORMALIZATION_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


@dataclass(frozen=True)
class RunOutcome:
    summary: dict
    thresholds: Thresholds
    calibration: Calibration = Calibration()

    def line(self) -> str:
        """One log line: best epoch, validation AUC and the frozen thresholds."""
        text = f"best epoch {self.summary['best_epoch']}, val AUC {self.summary['best']['val_auc']:.4f}"
        if self.thresholds.image is not None:
            text += f", threshold {self.thresholds.image:.4f} per image"
        if self.thresholds.study is not None:
            text += f", {self.thresholds.study:.4f} per study"
        return text


def collapse_advice(model: nn.Module) -> str:
    """What to try when a run gave every image the same answer.

    Without a normalization layer nothing holds a deep network's activations
    up: trained from scratch on a weak signal they fade layer by layer to a
    constant answer (measured on vgg16 with Adam, AdamW and SGD alike).
    """
    advice = "try model.pretrained: true, a lower train.lr or more train.epochs"
    if not any(isinstance(module, NORMALIZATION_LAYERS) for module in model.modules()):
        advice += ("; it has no normalization layer, so from scratch its activations can fade to one answer: "
                   "a BatchNorm variant learns (timm/vgg16_bn for vgg16)")
    return advice


def judge_run(model: nn.Module, result: FitResult, val: SplitData, preprocessing: Preprocessing,
              config: TrainConfig, device: torch.device, studies: bool) -> RunOutcome:
    """Score the best model (already loaded into `model`) on validation and freeze its thresholds."""
    summary = {"best_epoch": result.best_epoch, "epochs_run": len(result.history),
               "stopped_early": result.stopped_early,
               "train_seconds": round(sum(epoch.seconds for epoch in result.history), 1)}
    inputs = ModelInput.on(preprocessing.normalization, device)
    probabilities = predict_probabilities(model, val.images, inputs, config.tta).numpy()
    summary["val_output_spread"] = output_spread(probabilities)
    if summary["val_output_spread"] < COLLAPSED_SPREAD:
        log.warning(f"train: {config.arch} did not learn: its validation probabilities barely vary "
                    f"(std {summary['val_output_spread']:.4f}); {collapse_advice(model)}")
    calibration = fit_calibration(config.calibration, probabilities, val.labels.numpy())
    if config.calibration != "none":
        calibrated = calibration.apply(torch.from_numpy(probabilities).double()).float().numpy()
        summary["calibration"] = {"method": config.calibration, "temperature": calibration.temperature,
                                  "bias": calibration.bias, **_val_ece(config, val, probabilities, "before"),
                                  **_val_ece(config, val, calibrated, "after")}
        probabilities = calibrated
    if config.task != "fracture":
        summary["best"] = {"val_auc": result.history[result.best_epoch - 1].val_auc}
        return RunOutcome(summary, Thresholds(), calibration)
    probability = probabilities[:, 1]
    image, study = validation_thresholds(val.rows.assign(probability=probability), config.threshold,
                                         config.target_sensitivity, studies)
    at_threshold = binary_metrics(val.labels.numpy(), probability, image)
    summary.update(threshold=image, study_threshold=study, best={
        "val_auc": at_threshold["auc"], "val_sensitivity": at_threshold["sensitivity"],
        "val_specificity": at_threshold["specificity"]})
    return RunOutcome(summary, Thresholds(image, study, config.threshold,
                                          config.target_sensitivity if config.threshold == "sensitivity" else None),
                      calibration)


def _val_ece(config: TrainConfig, val: SplitData, probabilities, when: str) -> dict:
    """Validation's expected calibration error (of P(abnormal), or of the top class's confidence)."""
    labels = val.labels.numpy()
    if config.task == "fracture":
        return {f"val_ece_{when}": expected_calibration_error(labels, probabilities[:, 1])}
    correct = (probabilities.argmax(1) == labels).astype(int)
    return {f"val_ece_{when}": expected_calibration_error(correct, probabilities.max(1))}


def run_metadata(config: TrainConfig, classes: list[str], preprocessing: Preprocessing, outcome: RunOutcome,
                 best_epoch: int, quality: QualityRules, manifest) -> CheckpointMetadata:
    """What the checkpoint of this run says about it: the model, how to prepare its input and read its output, the
    resolved config with the versions it ran on, and the images it was developed on."""
    return CheckpointMetadata(config.arch, config.width, config.task, list(classes), preprocessing,
                              outcome.thresholds, best_epoch, asdict(config), library_versions(), quality,
                              development_images(manifest), config.tta, config.head,
                              outcome.calibration.temperature, outcome.calibration.bias)
