import dataclasses
import math

import pandas as pd
import pytest
import torch
from torch import nn

from fracture.core.errors import UserError
from fracture.data.processed import SplitData
from fracture.evaluation.metrics import COLLAPSED_SPREAD
from fracture.imaging.preprocessing import Normalization
from fracture.inference.presets import ModelInput
from fracture.models.architectures import build_model
from fracture.training.augment import AugmentConfig
from fracture.training.config import train_config
from fracture.training.ema import WeightAverage
from fracture.training.loop import (
    EpochHooks,
    LearningRatePlan,
    Splits,
    class_weights,
    fit,
    make_optimizer,
    optimizer_step,
    rank_batches,
)
from fracture.training.resume import Ranks, Resume, TrainingState, resume_fingerprint
from tests.conftest import tiny_params


def _bright_square_task(count, seed):
    """Abnormal images hold a bright square: learnable in a couple of epochs."""
    generator = torch.Generator().manual_seed(seed)
    images = (torch.rand(count, 1, 24, 24, generator=generator) * 80).to(torch.uint8)
    labels = torch.arange(count) % 2
    for index in torch.nonzero(labels).flatten():
        images[index, 0, 8:16, 8:16] = 250
    return SplitData(images, labels, pd.DataFrame(index=range(count)))


def _config(**changes):
    config = train_config(tiny_params(**{"model.width": 4, "train.batch_size": 8}))
    return dataclasses.replace(config, augment=AugmentConfig(), **changes)


def _cpu_input(train):
    return ModelInput(Normalization.of(train.images), torch.device("cpu"))


def _fit(config, seed=0):
    torch.manual_seed(seed)
    train, val = _bright_square_task(64, 1), _bright_square_task(32, 2)
    model = build_model("simple_cnn", 2, width=4)
    return model, fit(model, Splits(train, val, 2), _cpu_input(train), config)


def test_balanced_class_weights():
    weights = class_weights(torch.tensor([0, 0, 0, 1]), 2)
    assert weights.tolist() == pytest.approx([4 / 6, 4 / 2])


def test_fit_learns_a_learnable_task_and_keeps_the_best_epoch():
    _, result = _fit(_config(epochs=8, lr=0.01, patience=8))
    assert max(epoch.val_auc for epoch in result.history) > 0.95
    best = max(result.history, key=lambda epoch: epoch.val_auc)
    assert result.best_epoch == best.epoch
    assert best.val_spread >= COLLAPSED_SPREAD, "each epoch records how much its validation answers vary"


def test_training_is_deterministic_on_cpu_for_a_seed():
    first, _ = _fit(_config(epochs=2))
    second, _ = _fit(_config(epochs=2))
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    _, result = _fit(_config(epochs=30, lr=1e-7, patience=2, monitor="val_loss"))
    assert result.stopped_early and len(result.history) < 30


class _Stop(Exception):
    pass


def _stop_after(last):
    """An on_epoch callback that interrupts fit after epoch `last`, as a stopped process would."""
    def stop(epoch):
        if epoch.epoch == last:
            raise _Stop
    return stop


def _scores(epoch):
    """An epoch's results without its wall time, which varies run to run."""
    return {key: value for key, value in dataclasses.asdict(epoch).items() if key != "seconds"}


@pytest.mark.parametrize("recipe", [{}, {"ema": 0.9, "schedule": "cosine", "sampler": "balanced",
                                         "class_weights": False, "label_smoothing": 0.1, "optimizer": "adamw"}],
                         ids=["default", "modern-recipe"])
def test_an_interrupted_fit_resumes_to_the_same_result(tmp_path, recipe):
    config = _config(epochs=4, lr=0.01, patience=10, **recipe)
    uninterrupted, expected = _fit(config)
    train, val = _bright_square_task(64, 1), _bright_square_task(32, 2)
    splits, inputs = Splits(train, val, 2), _cpu_input(train)
    resume = Resume(tmp_path / "resume.pt", "run-a")
    torch.manual_seed(0)
    with pytest.raises(_Stop):
        fit(build_model("simple_cnn", 2, width=4), splits, inputs, config, EpochHooks(_stop_after(2), resume))
    torch.manual_seed(99)  # a fresh process: other initial weights and RNG, all replaced from the resume file
    seen = []
    model = build_model("simple_cnn", 2, width=4)
    result = fit(model, splits, inputs, config, EpochHooks(seen.append, resume))
    assert [epoch.epoch for epoch in seen] == [1, 2, 3, 4]
    assert [_scores(epoch) for epoch in result.history] == [_scores(epoch) for epoch in expected.history]
    assert result.best_epoch == expected.best_epoch
    for key, value in expected.best_state.items():
        assert torch.equal(value, result.best_state[key]), key
    assert all(epoch.seconds > 0 for epoch in result.history)  # epochs 1-2 keep the time they took before the stop
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_a_stopped_fit_goes_on_under_a_new_epoch_budget_as_if_run_with_it(tmp_path):
    train, val = _bright_square_task(64, 1), _bright_square_task(32, 2)
    resume = Resume(tmp_path / "resume.pt", "run-a")

    def resumed(epochs, on_epoch=lambda epoch: None):
        torch.manual_seed(0)
        model = build_model("simple_cnn", 2, width=4)
        config = _config(epochs=epochs, lr=0.01, patience=10)
        return model, fit(model, Splits(train, val, 2), _cpu_input(train), config, EpochHooks(on_epoch, resume))

    with pytest.raises(_Stop):
        resumed(6, _stop_after(3))
    for epochs, seen_epochs in ((4, [1, 2, 3, 4]), (2, [1, 2])):  # 2 < the 4 run: it starts afresh
        seen = []
        model, result = resumed(epochs, seen.append)
        fresh, expected = _fit(_config(epochs=epochs, lr=0.01, patience=10))
        assert [epoch.epoch for epoch in seen] == seen_epochs
        assert [_scores(epoch) for epoch in result.history] == [_scores(epoch) for epoch in expected.history]
        for key, value in fresh.state_dict().items():
            assert torch.equal(value, model.state_dict()[key]), key


def test_a_resume_file_of_another_run_is_ignored(tmp_path):
    config = _config(epochs=2)
    train, val = _bright_square_task(32, 1), _bright_square_task(16, 2)
    resume = tmp_path / "resume.pt"
    fit(build_model("simple_cnn", 2, width=4), Splits(train, val, 2), _cpu_input(train), config,
        EpochHooks(resume=Resume(resume, "run-a")))
    seen = []
    fit(build_model("simple_cnn", 2, width=4), Splits(train, val, 2), _cpu_input(train), _config(epochs=1),
        EpochHooks(seen.append, Resume(resume, "run-b")))
    assert [epoch.epoch for epoch in seen] == [1]


def test_a_diverged_model_stops_with_a_user_error_naming_the_fix():
    with pytest.raises(UserError, match=r"training diverged in epoch \d+.*lower train.lr \(now 10\)"):
        _fit(_config(epochs=3, lr=10.0, optimizer="sgd"))


def test_on_resume_each_rank_takes_back_its_own_random_state(tmp_path):
    """Rank 0 saves every rank's generators; rank 1 must not continue with rank 0's augmentation stream."""
    config = _config(epochs=1)
    resume = tmp_path / "resume.pt"
    train, val = _bright_square_task(32, 1), _bright_square_task(16, 2)
    model = build_model("simple_cnn", 2, width=4)
    fit(model, Splits(train, val, 2), _cpu_input(train), config, EpochHooks(resume=Resume(resume, "run")))
    state = torch.load(resume, weights_only=False)
    rank1 = {**state["rng"][0], "augmentation": torch.Generator().manual_seed(99).get_state()}
    torch.save({**state, "rng": [state["rng"][0], rank1]}, resume)
    optimizer = make_optimizer(model, config)
    training = TrainingState(model, optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer),
                             torch.amp.GradScaler("cpu", enabled=False), torch.Generator(), torch.Generator())
    saved = torch.load(resume, weights_only=False)
    progress = training.restore(saved, torch.device("cpu"), Ranks(rank=1, world=2))
    assert progress.epoch == 1
    assert torch.equal(training.augmentation.get_state(), rank1["augmentation"])
    assert torch.equal(training.shuffle.get_state(), state["rng"][0]["shuffle"]), "the shared batch order"
    cpu = torch.device("cpu")
    assert Resume(resume, "run").load(training, 1, cpu, Ranks()) is None, "a file from another world size"
    torch.save(state, resume)
    assert Resume(resume, "run").load(training, 1, cpu, Ranks()) is not None
    assert Resume(resume, "another run").load(training, 1, cpu, Ranks()) is None, "another run's file"
    assert Resume(resume, "run").load(training, 0, cpu, Ranks()) is None, "a file past the epoch budget"


def _rates(plan, epochs=3, steps=4):
    optimizer = make_optimizer(build_model("simple_cnn", 2, width=4), _config(lr=0.1, backbone_lr_factor=0.5))
    seen = []
    for epoch in range(1, epochs + 1):
        for step in range(steps):
            plan.apply(optimizer, epoch, step, steps)
            seen.append(tuple(group["lr"] for group in optimizer.param_groups))
            for group in optimizer.param_groups:
                group["lr"] *= 0.5  # as a plateau schedule would; the plan must leave it alone after its epochs
    return seen


def test_warm_up_raises_every_group_step_by_step_to_its_own_rate():
    seen = _rates(LearningRatePlan(warmup_epochs=2))
    assert [head for _, head in seen[:8]] == pytest.approx([0.1 * k / 8 for k in range(1, 9)])
    assert [backbone for backbone, _ in seen[:8]] == pytest.approx([0.05 * k / 8 for k in range(1, 9)])
    assert seen[8] == pytest.approx((0.05, 0.1)) and seen[9] == pytest.approx((0.025, 0.05)), "then it lets go"


def test_head_only_epochs_hold_the_backbone_then_release_it():
    seen = _rates(LearningRatePlan(freeze_epochs=1))
    assert all(rates == pytest.approx((0.0, 0.1)) for rates in seen[:4])
    assert seen[4] == pytest.approx((0.05, 0.1))


def test_head_only_training_leaves_the_backbone_and_its_statistics_alone():
    torch.manual_seed(0)
    train, val = _bright_square_task(32, 1), _bright_square_task(16, 2)
    model = build_model("simple_cnn", 2, width=4)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    fit(model, Splits(train, val, 2), _cpu_input(train), _config(epochs=1, freeze_epochs=1))
    after = model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before if key.startswith("features."))
    assert not all(torch.equal(before[key], after[key]) for key in before if key.startswith("classifier."))
    backbone = [parameter for name, parameter in model.named_parameters() if name.startswith("features.")]
    assert all(parameter.grad is None for parameter in backbone), "no backward pass through the frozen backbone"
    assert all(parameter.requires_grad for parameter in backbone), "and it trains again after the head-only epoch"


def test_contiguous_memory_training_on_cpu_is_deterministic_and_learns_too():
    first, result = _fit(_config(epochs=4, lr=0.01, memory_format="contiguous"))
    second, _ = _fit(_config(epochs=4, lr=0.01, memory_format="contiguous"))
    assert all(torch.equal(value, second.state_dict()[key]) for key, value in first.state_dict().items())
    assert max(epoch.val_auc for epoch in result.history) > 0.9


def test_gradients_are_clipped_to_the_given_norm():
    model = build_model("simple_cnn", 2, width=4)
    inputs, targets = torch.rand(4, 1, 24, 24), torch.tensor([0, 1, 0, 1])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    optimizer_step(model, inputs, targets, torch.nn.CrossEntropyLoss(), optimizer, scaler, max_grad_norm=1e-3)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
    assert norm <= 1e-3 * 1.001


def test_train_seed_changes_the_run_and_warm_up_with_clipping_still_learns():
    first, _ = _fit(_config(epochs=1, seed=1), seed=1)
    second, _ = _fit(_config(epochs=1, seed=2), seed=2)
    assert any(not torch.equal(value, second.state_dict()[key]) for key, value in first.state_dict().items())
    _, result = _fit(_config(epochs=8, lr=0.01, patience=8, warmup_epochs=2, grad_clip=1.0))
    assert max(epoch.val_auc for epoch in result.history) > 0.9
    assert result.history[0].lr < 0.01 and result.history[2].lr == pytest.approx(0.01)


def test_the_training_seed_is_train_seed_not_the_data_seed():
    assert train_config(tiny_params(**{"base.seed": 1, "train.seed": 5})).seed == 5


def test_a_run_keeps_its_resume_fingerprint_when_only_its_epoch_budget_changes(tmp_path):
    for name in ("manifest.csv", "preprocessing.json"):
        (tmp_path / name).write_text(name)
    params = tiny_params(**{"train.epochs": 10})
    fingerprint = resume_fingerprint(params, tmp_path)
    assert resume_fingerprint(tiny_params(**{"train.epochs": 4}), tmp_path) == fingerprint
    assert resume_fingerprint(tiny_params(**{"train.epochs": 10, "train.lr": 0.5}), tmp_path) != fingerprint
    (tmp_path / "manifest.csv").write_text("other data")
    assert resume_fingerprint(params, tmp_path) != fingerprint


def test_cosine_decays_step_by_step_from_the_base_rate_to_its_floor_after_the_head_only_epoch():
    seen = _rates(LearningRatePlan(freeze_epochs=1, cosine_epochs=3, floor=0.1))
    assert all(rates == pytest.approx((0.0, 0.1)) for rates in seen[:4])
    heads = [head for _, head in seen[4:]]
    assert heads[0] == pytest.approx(0.1) and all(a > b for a, b in zip(heads, heads[1:]))
    assert heads[-1] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 8))))
    assert [backbone for backbone, _ in seen[4:]] == pytest.approx([head / 2 for head in heads]), "each group's own"


def test_the_weight_average_follows_the_model_with_a_warmed_up_decay():
    model = nn.BatchNorm1d(2)
    average = WeightAverage(model, decay=0.99)
    with torch.no_grad():
        model.weight.fill_(3.0)
    model.num_batches_tracked.fill_(7)
    average.update(model)
    decay = min(0.99, 2 / 11)
    assert average.model.weight.tolist() == pytest.approx([decay * 1 + (1 - decay) * 3] * 2)
    assert int(average.model.num_batches_tracked) == 7, "integer buffers are copied"
    assert not any(parameter.requires_grad for parameter in average.model.parameters())


def test_the_balanced_sampler_draws_both_classes_equally_often_and_repeatably():
    labels = torch.tensor([0] * 90 + [1] * 10)
    batches = rank_batches(labels, 10, torch.Generator().manual_seed(3), Ranks(), "balanced")
    drawn = torch.cat(batches)
    assert len(drawn) == 100 and 0.35 < labels[drawn].float().mean() < 0.65
    again = rank_batches(labels, 10, torch.Generator().manual_seed(3), Ranks(), "balanced")
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_the_modern_recipe_learns_and_keeps_the_averaged_weights():
    config = _config(epochs=6, lr=0.01, patience=10, optimizer="adamw", schedule="cosine", warmup_epochs=1,
                     label_smoothing=0.1, ema=0.9, sampler="balanced", class_weights=False)
    model, result = _fit(config)
    assert max(epoch.val_auc for epoch in result.history) > 0.95
    assert any(not torch.equal(value, model.state_dict()[key]) for key, value in result.best_state.items()
               if value.is_floating_point()), "the kept weights are the average, not the last trained ones"


@pytest.mark.parametrize("changes, message", [
    ({"train.sampler": "balanced"}, r"train\.class_weights.*false with train\.sampler=balanced"),
    ({"train.ema": 0.3}, r"train\.ema.*0 \(off\)"),
    ({"train.lr_schedule.type": "step"}, r"train\.lr_schedule\.type.*plateau, cosine"),
    ({"train.label_smoothing": 0.9}, r"train\.label_smoothing"),
])
def test_recipe_params_that_make_no_sense_are_one_line(changes, message):
    with pytest.raises(UserError, match=message):
        train_config(tiny_params(**changes))
