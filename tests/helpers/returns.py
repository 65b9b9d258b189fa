"""Synthetic log-return series for the interval tests."""

import math

import numpy as np


def log_close_from(returns: np.ndarray) -> np.ndarray:
    """Log prices starting at 0 whose day-to-day differences are ``returns``."""
    return np.concatenate(([0.0], np.cumsum(returns)))


def iid_returns(n: int, seed: int, sigma: float = 0.01) -> np.ndarray:
    return sigma * np.random.default_rng(seed).standard_normal(n)


def garch_returns(
    n: int, seed: int, omega: float = 2e-6, alpha: float = 0.1, beta: float = 0.85
) -> np.ndarray:
    """GARCH(1,1) returns with normal innovations, started at the stationary variance."""
    shocks = np.random.default_rng(seed).standard_normal(n)
    returns, variance = np.empty(n), omega / (1 - alpha - beta)
    for i in range(n):
        returns[i] = math.sqrt(variance) * shocks[i]
        variance = omega + alpha * returns[i] ** 2 + beta * variance
    return returns
