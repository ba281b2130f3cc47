"""The `model` and `train` params, checked, and the device they ask for."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fracture.core.errors import UserError
from fracture.core.params import Section
from fracture.evaluation.thresholds import THRESHOLD_METHODS
from fracture.inference.metadata import TASKS, TTA_MODES, WIDTH
from fracture.models.architectures import ARCHITECTURES, is_architecture
from fracture.models.fracture_map import FUSIONS, HEADS, MAP_BOXES, MAP_STRIDES, POOLINGS, HeadSpec
from fracture.training.augment import AugmentConfig

MONITORS = {"val_auc": "max", "val_loss": "min"}
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("plateau", "cosine")
SAMPLERS = ("shuffle", "balanced")
MEMORY_FORMATS = ("channels_last", "contiguous")
DEVICES = ("auto", "cpu", "cuda")
CALIBRATIONS = ("none", "temperature", "platt")
MIN_CROP = 32  # the coarsest tap's stride: a smaller crop has no cell of it


@dataclass(frozen=True)
class TrainConfig:
    arch: str
    pretrained: bool
    width: int
    task: str
    head: HeadSpec
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    class_weights: bool
    sampler: str  # shuffle: each film once an epoch; balanced: drawn with replacement, both classes equally often
    label_smoothing: float
    ema: float  # decay of the weights' moving average; 0: off
    warmup_epochs: int
    grad_clip: float
    freeze_epochs: int
    backbone_lr_factor: float
    map_loss_weight: float  # the map's loss beside the image's, where the head is a map
    crop: int  # the side of the squares a map model trains on, cut from the whole film; 0: the whole film
    calibration: str  # none, or temperature or Platt scaling fitted on validation and kept with the model
    monitor: str
    patience: int
    schedule: str
    lr_factor: float
    lr_patience: int
    min_lr: float
    augment: AugmentConfig
    device: str
    memory_format: str
    gpus: int
    threshold: str
    target_sensitivity: float
    tta: str
    seed: int

    @property
    def monitor_mode(self) -> str:
        return MONITORS[self.monitor]

    @property
    def channels_last(self) -> bool:
        """Whether model and batches train in channels-last memory: 1.4x (simple_cnn, 128 px) to 1.8x
        (efficientnet_lite0, 224 px) faster steps on this project's 2 CPU cores (bench/cpu_speed.py), and the
        layout CUDA's tensor cores want. Its float rounding differs from contiguous memory, which reproduces
        CPU runs of releases before 0.4 exactly."""
        return self.memory_format == "channels_last"


def _architecture(model: Section) -> str:
    arch = model.text("arch")
    if not is_architecture(arch):
        raise model.fail("arch", f"choose one of: {', '.join(ARCHITECTURES)}, or timm/<name> with a name from "
                                 f"timm.list_models()")
    return arch


def _map_stride(model: Section) -> int:
    stride = model.integer("map_stride")
    if stride not in MAP_STRIDES:
        raise model.fail("map_stride", f"choose one of: {', '.join(map(str, MAP_STRIDES))}")
    return stride


def _map_box(model: Section) -> str:
    box = model.choice("map_box", MAP_BOXES)
    if box == "regressed" and model.choice("head", HEADS) != "map":
        raise model.fail("map_box", "a regressed box comes from a fracture map: set model.head: map, or "
                                    "model.map_box: extent")
    return box


def train_config(params: dict) -> TrainConfig:
    model, train = Section(params, "model"), Section(params, "train")
    early, schedule, aug = train.section("early_stopping"), train.section("lr_schedule"), train.section("augment")
    config = TrainConfig(
        arch=_architecture(model),
        pretrained=model.boolean("pretrained"),
        width=WIDTH.read(model, "width"),
        task=model.choice("task", TASKS),
        head=HeadSpec(model.choice("head", HEADS), model.choice("map_pooling", POOLINGS),
                      model.choice("map_fusion", FUSIONS), _map_stride(model), _map_box(model)),
        epochs=train.integer("epochs", minimum=1),
        batch_size=train.integer("batch_size", minimum=1),
        optimizer=train.choice("optimizer", OPTIMIZERS),
        lr=train.number("lr", minimum=1e-8, maximum=10.0),
        weight_decay=train.number("weight_decay", minimum=0.0),
        class_weights=train.boolean("class_weights"),
        sampler=train.choice("sampler", SAMPLERS),
        label_smoothing=train.number("label_smoothing", minimum=0.0, maximum=0.5),
        ema=train.number("ema", minimum=0.0, maximum=0.99999),
        warmup_epochs=train.integer("warmup_epochs", minimum=0),
        grad_clip=train.number("grad_clip", minimum=0.0),
        freeze_epochs=train.integer("freeze_epochs", minimum=0),
        backbone_lr_factor=train.number("backbone_lr_factor", minimum=0.0001, maximum=1.0),
        map_loss_weight=train.number("map_loss_weight", minimum=0.0, maximum=100.0),
        crop=train.integer("crop", minimum=0),
        calibration=train.choice("calibration", CALIBRATIONS),
        monitor=early.choice("monitor", MONITORS),
        patience=early.integer("patience", minimum=1),
        schedule=schedule.choice("type", SCHEDULES),
        lr_factor=schedule.number("factor", minimum=0.01, maximum=0.99),
        lr_patience=schedule.integer("patience", minimum=0),
        min_lr=schedule.number("min_lr", minimum=0.0),
        augment=AugmentConfig(
            rotation=aug.number("rotation", minimum=0, maximum=180),
            scale=aug.number("scale", minimum=0, maximum=0.9),
            shear=aug.number("shear", minimum=0, maximum=45),
            translate=aug.number("translate", minimum=0, maximum=0.5),
            brightness=aug.number("brightness", minimum=0, maximum=0.9),
            hflip=aug.boolean("hflip"),
            vflip=aug.boolean("vflip"),
        ),
        device=train.choice("device", DEVICES),
        memory_format=train.choice("memory_format", MEMORY_FORMATS),
        gpus=train.integer("gpus", minimum=1, maximum=64),
        threshold=train.choice("threshold", THRESHOLD_METHODS),
        target_sensitivity=train.number("target_sensitivity", minimum=0.01, maximum=1.0),
        tta=train.choice("tta", TTA_MODES),
        seed=train.integer("seed", minimum=0),
    )
    if config.sampler == "balanced" and config.class_weights:
        raise train.fail("class_weights", "false with train.sampler=balanced: the sampler already shows both "
                                          "classes equally often, and weighting the loss too would count the rare "
                                          "class twice")
    if config.head.is_map and config.task != "fracture":
        raise model.fail("head", "global with model.task: region: a fracture map answers where a fracture is, not "
                                 "which region a film shows")
    _check_crop(config, train, Section(params, "enhance").integer("image_size", minimum=1))
    if config.calibration == "platt" and config.task != "fracture":
        raise train.fail("calibration", "none or temperature with model.task: region: Platt scaling shifts the "
                                        "log-odds of one class against another, and regions are more than two")
    if 0 < config.ema < 0.5:
        raise train.fail("ema", "0 (off) or a decay from 0.5 to 0.99999, such as 0.998")
    return config


def _check_crop(config: TrainConfig, train: Section, image_size: int) -> None:
    if config.crop and not config.head.is_map:
        raise train.fail("crop", "0 with model.head: global: a crop of a fractured film may miss the fracture, and "
                                 "only a map model's boxes say which crops show one; use model.head: map")
    if config.crop and not MIN_CROP <= config.crop < image_size:
        raise train.fail("crop", f"0 (the whole film) or a side from {MIN_CROP} to {image_size - 1} pixels, below "
                                 f"enhance.image_size ({image_size}), which the crops are cut from")


def check_gpus(config: TrainConfig, device: torch.device) -> None:
    """One process per GPU: no more processes than GPUs (CPU processes are allowed, for testing)."""
    if device.type == "cuda" and config.gpus > torch.cuda.device_count():
        raise UserError(f"train.gpus = {config.gpus} but {torch.cuda.device_count()} CUDA GPUs are visible; "
                        f"lower train.gpus")


def make_deterministic(seed_value: int, device: torch.device) -> None:
    """Same seed, same CPU run: seeded RNGs and deterministic kernels.

    Filling fresh tensors with NaN is a debugging aid of deterministic mode
    that costs about a tenth of a CPU epoch; results do not depend on it.
    """
    torch.manual_seed(seed_value)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
        torch.utils.deterministic.fill_uninitialized_memory = False
    else:
        torch.backends.cudnn.benchmark = True
