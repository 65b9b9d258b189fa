"""Features: log prices, scalers fitted on training rows only, 30-day windows as views.

Representation. A sample is named by its *end* day ``t``: its input is the
window of days ``t - window + 1 .. t`` and its target is day ``t + 1``. Inputs
are the log of each day's Open/High/Low/Close *relative to the window's last
Close*, and the target is the log return ``log(Close[t+1] / Close[t])``. Both
stay in the same range however far prices drift from the training years,
which a scaler on raw price levels does not (the tutorial approach's test RMSE
on the AAPL sample came out 15.6 times persistence's).

Memory. ``log_prices`` (days x 4) is the only per-day array; windows are
strided views of it (``numpy.lib.stride_tricks.sliding_window_view`` here,
``Tensor.unfold`` on the device) and are made relative and scaled one batch
at a time by ``make_batch``, which works on numpy arrays and torch tensors.

Leakage. A sample belongs to the split of its target day. The scalers see only
training samples, whose inputs and targets all lie in the training days.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.preprocessing import StandardScaler

from pipeline.config import FeatureConfig
from pipeline.core.splits import Split, calendar_default_split
from pipeline.data.validate import PRICE_COLUMNS

CLOSE = PRICE_COLUMNS.index("Close")
N_FEATURES = len(PRICE_COLUMNS)


@dataclass(frozen=True)
class Features:
    """Everything the model, the baselines and the evaluation read."""

    dates: pd.DatetimeIndex  # one per day
    log_prices: np.ndarray  # (days, 4) float64 log Open/High/Low/Close
    window: int  # days per input window
    split: Split  # sample end days per split
    x_scaler: StandardScaler  # per-feature scaling of window-relative log prices
    y_scaler: StandardScaler  # scaling (no centring) of next-day log returns
    horizon: int = 1  # days ahead forecast: targets for days t + 1 .. t + horizon

    @property
    def close(self) -> np.ndarray:
        """Close prices in price units, one per day."""
        return np.exp(self.log_prices[:, CLOSE])

    @property
    def targets(self) -> np.ndarray:
        """Scaled next-day log return for every end day (last entry is NaN: no next day)."""
        return scaled_targets(self.log_prices, self.y_scaler)

    @property
    def horizon_targets(self) -> np.ndarray:
        """Scaled log returns over 1..horizon days per end day: (days, horizon), NaN past the end.

        Column ``h - 1`` is ``log_close[t + h] - log_close[t]`` in the units of the
        one-day scale, so its spread grows about as ``sqrt(h)``.
        """
        return horizon_targets(self.log_prices, self.y_scaler, self.horizon)

    def windows(self) -> np.ndarray:
        """All windows as a read-only view, shape (days - window + 1, window, 4)."""
        return window_view(self.log_prices, self.window)

    def batch(self, ends: np.ndarray) -> np.ndarray:
        """Scaled model inputs for the samples ending on ``ends``: (len(ends), window, 4)."""
        return make_batch(
            self.windows(),
            self.log_prices[:, CLOSE],
            ends,
            self.window,
            self.x_scaler.mean_,
            self.x_scaler.scale_,
        )


def window_view(log_prices: np.ndarray, window: int) -> np.ndarray:
    """Every ``window``-day slice of ``log_prices`` as a view: (days - window + 1, window, 4)."""
    return sliding_window_view(log_prices, window, axis=0).transpose(0, 2, 1)


def next_log_returns(log_close: np.ndarray, ends: np.ndarray, horizon: int = 1) -> np.ndarray:
    """The log return ``log_close[t+h] - log_close[t]`` over ``h = horizon`` days per end day."""
    log_close, ends = np.asarray(log_close, dtype=float), np.asarray(ends, dtype=int)
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 day, not {horizon}")
    if ends.size and (ends.min() < 0 or ends.max() + horizon >= len(log_close)):
        raise ValueError(f"every end day t needs the day t + {horizon} inside log_close")
    return log_close[ends + horizon] - log_close[ends]


def usable_ends(ends: np.ndarray, horizon: int) -> np.ndarray:
    """The end days of one part whose ``horizon``-day target lies in the same part.

    A part's end days name their one-day targets; the target ``t + h`` of end
    day ``t`` is the one-day target of end day ``t + h - 1``, so it is in the
    part when the end days ``t .. t + h - 1`` all are (``ends`` ascending).
    Training, early stopping and each horizon's calibration read only these,
    so that no h-day target of a training or validation sample lies in a
    later part's days.
    """
    ends = np.asarray(ends, dtype=int)
    if horizon == 1 or len(ends) < horizon:
        return ends if horizon == 1 else ends[:0]
    # ``t .. t + h - 1`` all end days of the part: a run that no gap between
    # two tickers' days (in pooled features) can bridge.
    run = ends[horizon - 1 :] - ends[: len(ends) - horizon + 1] == horizon - 1
    return ends[: len(ends) - horizon + 1][run]


def make_batch(windows: Any, log_close: Any, ends: Any, window: int, mean: Any, scale: Any) -> Any:
    """Scaled, close-relative inputs for samples ending on ``ends``.

    ``windows`` is a view from ``window_view`` (or ``Tensor.unfold``); this is
    the one place a window is copied. Works for numpy arrays and torch tensors alike.
    """
    raw = windows[ends - (window - 1)]
    relative = raw - log_close[ends][:, None, None]
    return (relative - mean) / scale


def scaled_targets(log_prices: np.ndarray, y_scaler: StandardScaler) -> np.ndarray:
    """Next-day log return of Close per end day, divided by the training scale."""
    log_close = log_prices[:, CLOSE]
    returns = np.append(np.diff(log_close), np.nan)
    return returns / y_scaler.scale_[0]


def horizon_targets(log_prices: np.ndarray, y_scaler: StandardScaler, horizon: int) -> np.ndarray:
    """Log returns of Close over ``1..horizon`` days per end day, in the one-day scale's units."""
    log_close = log_prices[:, CLOSE]
    out = np.full((len(log_close), horizon), np.nan)
    for h in range(1, horizon + 1):
        out[:-h, h - 1] = log_close[h:] - log_close[:-h]
    return out / y_scaler.scale_[0]


def fit_x_scaler(log_prices: np.ndarray, train_ends: np.ndarray, window: int) -> StandardScaler:
    """Fit a StandardScaler on the training windows' close-relative log prices.

    One ``partial_fit`` per position in the window keeps memory at one column
    of windows, instead of materialising every training window.
    """
    scaler = StandardScaler()
    log_close = log_prices[train_ends, CLOSE][:, None]
    for lag in range(window):
        scaler.partial_fit(log_prices[train_ends - lag] - log_close)
    return scaler


def fit_y_scaler(log_prices: np.ndarray, train_ends: np.ndarray) -> StandardScaler:
    """Fit the target scale on training returns, without centring.

    Not centring keeps 'predict 0' equal to 'tomorrow's Close = today's', the
    persistence forecast, which the untrained model starts from.
    """
    returns = np.diff(log_prices[:, CLOSE])[train_ends]
    return StandardScaler(with_mean=False).fit(returns[:, None])


def build_features(prices: pd.DataFrame, cfg: FeatureConfig, ticker: str = "") -> Features:
    """One series' features on its default split: a universe of one (``default_features``)."""
    name = ticker or "prices"
    return default_features({name: prices}, cfg)[name]


def default_features(prices: Mapping[str, pd.DataFrame], cfg: FeatureConfig) -> dict[str, Features]:
    """Each ticker's features on the universe's default split, cut by calendar date (a
    ticker's own days for a universe of one); DataError for a ticker with too little history."""
    splits = calendar_default_split({t: p.index for t, p in prices.items()}, cfg)
    return {t: features_for_split(p, splits[t], cfg.window, cfg.horizon) for t, p in prices.items()}


def features_for_split(
    prices: pd.DataFrame, split: Split, window: int, horizon: int = 1
) -> Features:
    """Features for a given split, with scalers fitted on its training samples only."""
    log_prices = np.log(prices[list(PRICE_COLUMNS)].to_numpy(dtype=np.float64))
    return Features(
        dates=pd.DatetimeIndex(prices.index),
        log_prices=log_prices,
        window=window,
        split=split,
        x_scaler=fit_x_scaler(log_prices, split.train, window),
        y_scaler=fit_y_scaler(log_prices, split.train),
        horizon=horizon,
    )


def pool_features(parts: Sequence[Features]) -> Features:
    """Several tickers' features as one, for a network trained on all of them (a global model).

    Their days are laid end to end and each split's end days shifted with
    them; no sample straddles two tickers, since a sample's window and target
    lie inside its own ticker's days. The scalers are fitted anew on the pooled
    training samples: window-relative log prices and log returns have the same
    meaning for every ticker, whatever its price level.
    """
    if not parts or len({(f.window, f.horizon) for f in parts}) != 1:
        raise ValueError("pool_features needs one or more Features with the same window, horizon")
    offsets = np.cumsum([0, *(len(f.log_prices) for f in parts[:-1])])

    def shifted(part: str) -> np.ndarray:
        return np.concatenate(
            [getattr(f.split, part) + o for f, o in zip(parts, offsets, strict=True)]
        )

    split = Split(train=shifted("train"), val=shifted("val"), test=shifted("test"))
    log_prices = np.concatenate([f.log_prices for f in parts])
    window = parts[0].window
    return Features(
        dates=pd.DatetimeIndex(np.concatenate([f.dates.to_numpy() for f in parts])),
        log_prices=log_prices,
        window=window,
        split=split,
        x_scaler=fit_x_scaler(log_prices, split.train, window),
        y_scaler=fit_y_scaler(log_prices, split.train),
        horizon=parts[0].horizon,
    )


def with_scalers(features: Features, source: Features) -> Features:
    """``features`` read through ``source``'s scalers (one ticker through a global model's)."""
    return dataclasses.replace(features, x_scaler=source.x_scaler, y_scaler=source.y_scaler)


def to_price(
    log_close_today: np.ndarray, scaled_return: np.ndarray, y_scaler: StandardScaler
) -> np.ndarray:
    """Map a scaled log-return forecast back to a Close price."""
    return np.exp(log_close_today + scaled_return * y_scaler.scale_[0])


def scaler_state(scaler: StandardScaler) -> dict[str, Any]:
    """The fitted parameters of a StandardScaler as plain lists (JSON-safe, no pickle)."""
    return {
        "with_mean": scaler.with_mean,
        "mean": None if scaler.mean_ is None else scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "var": scaler.var_.tolist(),
        "n_samples_seen": int(np.max(scaler.n_samples_seen_)),
    }


def scaler_from_state(state: dict[str, Any]) -> StandardScaler:
    """Rebuild a fitted StandardScaler from ``scaler_state``."""
    scaler = StandardScaler(with_mean=state["with_mean"])
    scaler.mean_ = None if state["mean"] is None else np.asarray(state["mean"])
    scaler.scale_ = np.asarray(state["scale"])
    scaler.var_ = np.asarray(state["var"])
    scaler.n_samples_seen_ = state["n_samples_seen"]
    scaler.n_features_in_ = len(state["scale"])
    return scaler
