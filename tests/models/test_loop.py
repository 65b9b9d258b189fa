"""The one training loop: which epoch early stopping keeps, when it stops, what it restores."""

import math

import pytest
import torch
from torch import nn

from pipeline.errors import TrainingError
from pipeline.models.loop import Batches, BestEpoch, EarlyStopping, train_batches, train_loop


def scripted(val_losses, rule, **kwargs):
    """``train_loop`` on a one-weight module whose weight is set to the epoch's number,
    with the validation losses ``val_losses[epoch]``; return the outcome and the module."""
    module = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(0.0)

    def next_epoch(epoch):
        with torch.no_grad():
            module.weight.fill_(float(epoch))
        return (epoch, val_losses[epoch])

    first = (0, val_losses[0])
    out = train_loop(module, rule, first, next_epoch, lambda r: (1.0, r[1]), **kwargs)
    return out, module


def test_an_epoch_is_kept_only_when_it_beats_the_best_by_min_delta():
    best = BestEpoch(EarlyStopping(epochs=9, patience=9, min_delta=0.1), val_loss=1.0)
    assert not best.offer(1, 0.95)  # better, but by less than 10%
    assert best.offer(2, 0.85)
    assert (best.epoch, best.val_loss) == (2, 0.85)
    assert not best.offer(3, 0.85 * 0.9)  # exactly 10% better is not enough
    assert not best.offer(4, math.nan)


def test_training_stops_patience_epochs_after_the_kept_one_and_restores_it():
    losses = [1.0, 0.9, 0.5, 0.6, 0.7, 0.4, 0.3]
    seen = []
    out, module = scripted(losses, EarlyStopping(epochs=6, patience=2), on_epoch=seen.append)
    assert out.best_epoch == 2
    assert [r[0] for r in out.history] == [0, 1, 2, 3, 4]  # epochs 5 and 6 never ran
    assert seen == out.history
    assert module.weight.item() == 2.0  # the kept epoch's weights
    assert not module.training


def test_no_better_epoch_keeps_the_starting_weights():
    out, module = scripted([1.0, 1.1, 1.2], EarlyStopping(epochs=2, patience=5))
    assert out.best_epoch == 0 and len(out.history) == 3
    assert module.weight.item() == 0.0


def test_a_non_finite_loss_names_the_model_the_epoch_and_the_option():
    with pytest.raises(TrainingError, match=r"^head: loss became nan at epoch 2 .*lower --x$"):
        scripted([1.0, 0.5, math.nan], EarlyStopping(2, 5), label="head", hint="--x")


def test_an_epoch_visits_every_sample_once_in_the_generators_order():
    module = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.0)
    samples = torch.tensor([10, 20, 30, 40, 50])
    batches = Batches(samples, 2, torch.Generator().manual_seed(3))
    seen = []

    def batch_loss(idx):
        seen.append(idx.tolist())
        return module(idx.float()[:, None]).sum() * 0.0 + idx.float().mean()

    mean = train_batches(module, optimizer, batches, batch_loss, clip_norm=1.0)
    order = samples[torch.randperm(5, generator=torch.Generator().manual_seed(3))].tolist()
    assert seen == [order[0:2], order[2:4], order[4:5]]
    assert sorted(i for batch in seen for i in batch) == samples.tolist()
    assert mean == pytest.approx(30.0)  # each batch's mean weighted by its size
