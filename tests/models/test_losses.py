"""The training losses: known answers."""

import numpy as np
import pytest
import torch

from pipeline.models.losses import gaussian_nll, horizon_loss, horizon_weights


def test_gaussian_nll_known_answer():
    centre, target = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])
    log_scale = torch.log(torch.tensor([1.0, 2.0]))
    # mean of (log 1 + 1/2, log 2 + 0) = (0.5 + 0.6931) / 2
    expected = (0.5 + np.log(2.0)) / 2
    assert gaussian_nll(centre, target, log_scale).item() == pytest.approx(expected, rel=1e-6)


def test_horizon_loss_divides_each_horizons_squared_error_by_h():
    weights = horizon_weights(3, torch.device("cpu"))
    assert weights.tolist() == pytest.approx([1.0, 1 / 2, 1 / 3])
    pred = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    target = torch.zeros(2, 3)
    # mean of (1, 4/2, 9/3, 0, 0, 0) = 6 / 6
    assert horizon_loss(pred, target, weights).item() == pytest.approx(1.0)


def test_with_one_horizon_the_loss_is_the_mean_squared_error():
    pred, target = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]])
    loss = horizon_loss(pred, target, horizon_weights(1, torch.device("cpu")))
    assert loss.item() == pytest.approx((1.0 + 4.0) / 2)
