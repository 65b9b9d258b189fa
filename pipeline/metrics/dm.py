"""Significance of forecast differences: the Diebold–Mariano test."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class DMResult:
    statistic: float  # negative: the first forecast has the lower loss
    pvalue: float  # two-sided
    n: int  # number of paired forecasts


def diebold_mariano(errors_a: np.ndarray, errors_b: np.ndarray, horizon: int = 1) -> DMResult:
    """Diebold–Mariano test of equal accuracy under squared-error loss, HLN-corrected.

    The losses are the squared errors ``e_a,t**2`` and ``e_b,t**2``; see
    ``diebold_mariano_losses`` for the test itself.
    """
    a = np.asarray(errors_a, dtype=float)
    b = np.asarray(errors_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("errors_a and errors_b must be 1-D arrays of the same length")
    return diebold_mariano_losses(a**2, b**2, horizon)


def diebold_mariano_losses(loss_a: np.ndarray, loss_b: np.ndarray, horizon: int = 1) -> DMResult:
    """Diebold–Mariano test of equal expected loss from per-day losses, HLN-corrected.

    Any per-day loss works (squared error, interval score, pinball loss). With
    loss differential ``d_t = loss_a,t - loss_b,t`` over ``n`` paired
    forecasts, the statistic is ``DM = mean(d) / sqrt(V / n)`` where ``V`` is
    the long-run variance of ``d``: the autocovariances up to lag ``h - 1``
    (``V = g_0 + 2 * sum_{k=1}^{h-1} g_k``, ``g_k`` with divisor ``n``), as an
    ``h``-step forecast's errors follow an MA(h - 1).

    The Harvey–Leybourne–Newbold small-sample correction multiplies it by
    ``sqrt((n + 1 - 2h + h(h - 1) / n) / n)`` and compares the result with
    Student's t with ``n - 1`` degrees of freedom (two-sided p-value).

    If the estimated long-run variance is not positive (possible for h > 1),
    the plain variance ``g_0`` is used instead. If the losses are identical on
    every day, the forecasts cannot be told apart: statistic 0, p-value 1.

    References: F. X. Diebold and R. S. Mariano (1995), "Comparing Predictive
    Accuracy", Journal of Business & Economic Statistics 13(3), 253-263;
    D. Harvey, S. Leybourne and P. Newbold (1997), "Testing the equality of
    prediction mean squared errors", International Journal of Forecasting
    13(2), 281-291.
    """
    a = np.asarray(loss_a, dtype=float)
    b = np.asarray(loss_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("loss_a and loss_b must be 1-D arrays of the same length")
    n = len(a)
    if n < 2 or horizon < 1 or horizon >= n:
        raise ValueError(f"need 1 <= horizon < n and n >= 2 (n={n}, horizon={horizon})")
    d = a - b
    centred = d - d.mean()
    gammas = [float(centred[k:] @ centred[: n - k]) / n for k in range(horizon)]
    long_run_var = gammas[0] + 2.0 * sum(gammas[1:])
    if long_run_var <= 0.0:
        long_run_var = gammas[0]  # a negative estimate: fall back to the plain variance
    if long_run_var <= 0.0:  # d is constant
        if d.mean() == 0.0:
            return DMResult(statistic=0.0, pvalue=1.0, n=n)
        return DMResult(statistic=math.copysign(math.inf, d.mean()), pvalue=0.0, n=n)
    dm = d.mean() / math.sqrt(long_run_var / n)
    correction = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = correction * dm
    pvalue = 2.0 * stats.t.sf(abs(statistic), df=n - 1)
    return DMResult(statistic=float(statistic), pvalue=float(pvalue), n=n)
