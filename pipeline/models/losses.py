"""Training losses: the point model's horizon-weighted squared error, the scale head's NLL.

Both are in the scaled units the network works in and return a 0-d float32
tensor; they are computed outside autocast, so they stay float32 under ``--amp``.
"""

from __future__ import annotations

import torch
from torch import nn


def horizon_weights(horizon: int, device: torch.device) -> torch.Tensor:
    """``1/h`` for h = 1..H: puts every horizon's squared error on the one-day scale."""
    return 1.0 / torch.arange(1, horizon + 1, dtype=torch.float32, device=device)


def horizon_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean squared error over samples and horizons, each horizon's divided by h.

    An h-day return spreads about ``sqrt(h)`` times as wide as a one-day one,
    so unweighted the far horizons would dominate the loss; with one horizon
    this is the plain mean squared error. ``weights`` is ``horizon_weights``.
    """
    return ((pred.float() - target) ** 2 * weights).mean()


def gaussian_nll(
    centre: torch.Tensor, target: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """Mean ``log s + (y - c)^2 / (2 s^2)``: torch's Gaussian NLL with the variance ``s^2``."""
    return nn.functional.gaussian_nll_loss(centre, target, torch.exp(2.0 * log_scale.float()))
