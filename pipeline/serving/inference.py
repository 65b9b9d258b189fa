"""Inference: raw price rows through the network and its scalers to a centre and a scale.

``ScaledRNN`` reads rows of Open, High, Low, Close exactly as the logged model
gets them and gives, after every full window, the log return's centre (the
point forecast) and scale over each horizon 1..H. Calibration and the served
answer build on it (``forecaster.py``, ``answer.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from pipeline.core.features import CLOSE, make_batch, to_price, window_view
from pipeline.core.network import StockRNN
from pipeline.data.validate import PRICE_COLUMNS


class ScaledRNN:
    """A trained StockRNN with the scalers of its inputs and outputs, on the CPU."""

    def __init__(self, model: StockRNN, x_scaler, y_scaler, window: int):
        self.model = model.cpu().eval()
        self.x_scaler = x_scaler
        self.y_scaler = y_scaler
        self.window = window
        self.horizon = model.horizon  # trading days ahead: 1..horizon

    def forecast(self, rows: pd.DataFrame, horizon: int = 1) -> np.ndarray:
        """The Close ``horizon`` trading days after every full window in ``rows`` (oldest first).

        Returns ``len(rows) - window + 1`` forecasts; the last one is for the
        ``horizon``-th trading day after the last row.
        """
        self._check_horizon(horizon)
        log_close, x = self._inputs(rows)
        with torch.no_grad():
            scaled = self.model(x)[:, horizon - 1].double().numpy()
        return to_price(log_close, scaled, self.y_scaler)

    def spread(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Today's log Close, and the centre and the scale of the log return over 1..H days
        per full window ((windows, horizon) each)."""
        log_close, x = self._inputs(rows)
        with torch.no_grad():
            scaled = self.model(x).double().numpy()
            log_scale = self.model.log_scale(x).double().numpy()
        unit = float(self.y_scaler.scale_[0])
        return log_close, scaled * unit, np.exp(log_scale) * unit

    def _check_horizon(self, horizon: int) -> None:
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"this model forecasts 1 to {self.horizon} days ahead, not {horizon}")

    def _inputs(self, rows: pd.DataFrame) -> tuple[np.ndarray, torch.Tensor]:
        """Today's log Close and the scaled window ending on each full-window day of ``rows``."""
        log_prices = np.log(price_rows(rows, self.window))
        ends = np.arange(self.window - 1, len(log_prices))
        x = make_batch(
            window_view(log_prices, self.window),
            log_prices[:, CLOSE],
            ends,
            self.window,
            self.x_scaler.mean_,
            self.x_scaler.scale_,
        )
        return log_prices[ends, CLOSE], torch.from_numpy(x.astype(np.float32))


def price_rows(rows: pd.DataFrame, window: int) -> np.ndarray:
    """The Open, High, Low, Close of ``rows`` (any case of the column names) as floats;
    ValueError, in one line, for a table without them, too few rows or a bad price."""
    if not isinstance(rows, pd.DataFrame):
        raise ValueError("expected a table with columns Open, High, Low, Close")
    by_lower = {str(c).lower(): c for c in rows.columns}
    missing = [c for c in PRICE_COLUMNS if c.lower() not in by_lower]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}; need Open, High, Low, Close")
    if len(rows) < window:
        raise ValueError(f"need at least {window} rows of prices, got {len(rows)}")
    values = rows[[by_lower[c.lower()] for c in PRICE_COLUMNS]].to_numpy(dtype=np.float64)
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError("prices must be positive, finite numbers")
    return values
