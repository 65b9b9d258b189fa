import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from pipeline.config import FeatureConfig, IntervalConfig, ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.features import build_features, usable_ends
from pipeline.core.network import StockRNN
from pipeline.errors import ConfigError, TrainingError
from pipeline.models import scale_head as scale_module
from pipeline.models import training as train_module
from pipeline.models.scale_head import fit_scale
from pipeline.models.training import (
    DeviceData,
    fit,
    mean_loss,
    pick_device,
    predict_scaled,
    shrink_to_validation,
)

MODEL = ModelConfig(hidden_size=8)
TRAIN = TrainConfig(epochs=3, batch_size=64, patience=5, seed=7)


@pytest.fixture
def features(prices):
    return build_features(prices, FeatureConfig(window=10, horizon=3))


def persistence_loss(features, ends):
    """The loss of a zero forecast: each horizon's mean squared scaled target over h."""
    y = features.horizon_targets[usable_ends(ends, features.horizon)]
    return float(np.mean(y**2 / np.arange(1, features.horizon + 1)))


def test_every_part_trains_and_scores_only_end_days_whose_far_target_is_inside_it(features):
    train = features.split.train
    kept = usable_ends(train, features.horizon)
    assert len(kept) == len(train) - (features.horizon - 1)
    assert kept.max() + features.horizon == train.max() + 1  # the last training target day


def test_device_batches_equal_the_numpy_batches(features):
    data = DeviceData(features, torch.device("cpu"))
    ends = features.split.val
    np.testing.assert_allclose(
        data.batch(data.ends(ends)).numpy(), features.batch(ends), rtol=1e-4, atol=1e-5
    )
    # Windows are a view of the one log-price tensor, not a copy.
    assert data.windows.untyped_storage().data_ptr() == data.log_close.untyped_storage().data_ptr()


def test_cpu_runs_repeat_exactly(features):
    a = fit(features, MODEL, TRAIN)
    b = fit(features, MODEL, TRAIN)
    assert [vars(e) for e in a.history] == [vars(e) for e in b.history]
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_history_starts_from_the_untrained_network(features):
    result = fit(features, MODEL, TRAIN)
    assert [e.epoch for e in result.history] == [0, 1, 2, 3]
    # Epoch 0 forecasts a zero return: its loss is the mean squared scaled target.
    expected = persistence_loss(features, features.split.val)
    assert result.history[0].val_loss == pytest.approx(expected, rel=1e-5)


def test_early_stopping_restores_the_best_weights(features):
    cfg = dataclasses.replace(TRAIN, epochs=8, patience=2, lr=0.05, shrink=False)
    result = fit(features, MODEL, cfg)
    best = min(result.history, key=lambda e: e.val_loss)
    assert result.best_epoch == best.epoch
    assert len(result.history) - 1 <= best.epoch + cfg.patience
    from pipeline.models.training import DeviceData, mean_loss

    data = DeviceData(features, torch.device("cpu"))
    val = data.ends(usable_ends(features.split.val, features.horizon))
    assert mean_loss(result.model, data, val, 64) == pytest.approx(best.val_loss, rel=1e-5)


def test_zero_epochs_keeps_persistence(features):
    result = fit(features, MODEL, dataclasses.replace(TRAIN, epochs=0))
    assert result.best_epoch == 0
    x = torch.randn(4, 10, 4)
    assert torch.equal(result.model(x), torch.zeros(4, features.horizon))


def test_divergence_stops_with_a_training_error(features):
    bad = dataclasses.replace(TRAIN, lr=float("inf"))
    with pytest.raises(TrainingError, match=r"diverged.*lower --lr"):
        fit(features, MODEL, bad, name="AAPL")


def test_epoch_callback_sees_every_epoch(features):
    seen = []
    fit(features, MODEL, TRAIN, on_epoch=seen.append)
    assert [e.epoch for e in seen] == [0, 1, 2, 3]
    assert all(math.isfinite(e.train_loss) for e in seen)


def test_device_selection():
    assert pick_device("cpu").type == "cpu"
    mps = getattr(torch.backends, "mps", None)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and mps is not None and mps.is_available():
        expected = "mps"
    assert pick_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            pick_device("cuda")


def test_an_epoch_must_beat_the_best_by_min_delta(features):
    cfg = dataclasses.replace(TRAIN, epochs=6, patience=10, lr=0.05, min_delta=0.5, shrink=False)
    result = fit(features, MODEL, cfg)
    # Nothing halves the validation loss of persistence: the untrained network stays.
    assert result.best_epoch == 0
    assert torch.equal(result.model(torch.randn(3, 10, 4)), torch.zeros(3, features.horizon))


@pytest.mark.parametrize("z", [0.0, 1.5])
def test_shrink_factor_is_the_validation_slope_less_z_standard_errors(features, z):
    torch.manual_seed(0)
    plain = StockRNN(MODEL, 4, features.horizon)
    torch.nn.init.normal_(plain.head.weight, std=0.3)  # a centre that moves
    shrunk = copy.deepcopy(plain)
    data = DeviceData(features, torch.device("cpu"))
    usable = usable_ends(features.split.val, features.horizon)
    val = data.ends(usable)
    factors = shrink_to_validation(shrunk, data, val, z, 64)
    forecasts = predict_scaled(plain, data, val, 64).double().numpy()
    assert len(factors) == features.horizon
    for h in range(features.horizon):  # each horizon's own factor, from its own column
        f, y = forecasts[:, h], features.horizon_targets[usable, h]
        slope = f @ y / (f @ f)
        se = np.sqrt(np.sum((y - slope * f) ** 2) / (len(f) - 1) / (f @ f))
        assert factors[h] == pytest.approx(np.clip(slope - z * se, 0, 1), abs=1e-5)
    torch.testing.assert_close(
        predict_scaled(shrunk, data, val, 64),
        torch.tensor(factors, dtype=torch.float32) * predict_scaled(plain, data, val, 64),
    )
    if z == 0.0:  # the least-squares factor never hurts validation
        assert mean_loss(shrunk, data, val, 64) <= mean_loss(plain, data, val, 64) + 1e-9


def test_watching_the_test_part_records_its_loss_and_changes_nothing_else(features):
    cfg = dataclasses.replace(TRAIN, shrink=False)
    plain = fit(features, MODEL, cfg)
    watched = fit(features, MODEL, cfg, watch_test=True)
    assert all(e.test_loss is None for e in plain.history)
    assert [(e.train_loss, e.val_loss) for e in watched.history] == [
        (e.train_loss, e.val_loss) for e in plain.history
    ]
    # Epoch 0 is persistence on the test part too; the kept epoch's loss is the model's.
    expected = persistence_loss(features, features.split.test)
    assert watched.history[0].test_loss == pytest.approx(expected, rel=1e-5)
    data = DeviceData(features, torch.device("cpu"))
    test = data.ends(usable_ends(features.split.test, features.horizon))
    kept = mean_loss(watched.model, data, test, 4096)
    assert watched.history[watched.best_epoch].test_loss == pytest.approx(kept, rel=1e-6)


@pytest.fixture
def cpu_amp(monkeypatch):
    """``--amp``'s bfloat16 autocast on the CPU, where the real one does nothing (no GPU here)."""

    def autocast_for(device: torch.device, amp: bool):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp)

    monkeypatch.setattr(train_module, "autocast_for", autocast_for)
    monkeypatch.setattr(scale_module, "autocast_for", autocast_for)


def test_a_short_training_under_bfloat16_autocast_stays_finite_and_near_float32(features, cpu_amp):
    cfg = dataclasses.replace(TRAIN, lr=0.01, shrink=False)
    amp_runtime = RuntimeConfig(device="cpu", amp=True, progress=False)
    plain = fit(features, MODEL, cfg)
    amp = fit(features, MODEL, cfg, amp_runtime)
    assert len(amp.history) == len(plain.history)
    for ours, full in zip(amp.history, plain.history, strict=True):
        assert math.isfinite(ours.train_loss) and math.isfinite(ours.val_loss)
        assert ours.train_loss == pytest.approx(full.train_loss, rel=0.05)
        assert ours.val_loss == pytest.approx(full.val_loss, rel=0.05)
    spread = IntervalConfig(scale_epochs=2, scale_lr=0.01)
    scaled = fit_scale(amp.model, features, "finetune", spread, cfg, runtime=amp_runtime)
    assert all(math.isfinite(e.train_nll) and math.isfinite(e.val_nll) for e in scaled.history)
