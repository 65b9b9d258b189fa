"""The deployable model: the network and its scalers, answering raw OHLC rows.

``Forecaster`` is plain Python, saved as ``weights.pt`` plus a JSON file (no
pickle) that also carries the config it was trained with. ``pyfunc_entry.py``
wraps it as an MLflow pyfunc model, so that ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` take at least ``window`` rows of Open, High, Low, Close
and return the next Close.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import storage
from pipeline.config import ModelConfig
from pipeline.core.features import (
    CLOSE,
    N_FEATURES,
    make_batch,
    scaler_from_state,
    scaler_state,
    to_price,
    window_view,
)
from pipeline.core.model import StockRNN
from pipeline.data.validate import PRICE_COLUMNS

WEIGHTS = "weights.pt"
SPEC = "forecaster.json"
OUTPUT_COLUMN = "predicted_close"


class Forecaster:
    """A trained StockRNN with the scalers it was trained with, on the CPU."""

    def __init__(self, model: StockRNN, x_scaler, y_scaler, window: int, meta: dict | None = None):
        self.model = model.cpu().eval()
        self.x_scaler = x_scaler
        self.y_scaler = y_scaler
        self.window = window
        self.meta = meta or {}

    def forecast(self, rows: pd.DataFrame) -> np.ndarray:
        """The next Close after every full window in ``rows`` (oldest first).

        Returns ``len(rows) - window + 1`` forecasts; the last one is for the
        trading day after the last row.
        """
        log_prices = np.log(_ohlc(rows, self.window))
        ends = np.arange(self.window - 1, len(log_prices))
        x = make_batch(
            window_view(log_prices, self.window),
            log_prices[:, CLOSE],
            ends,
            self.window,
            self.x_scaler.mean_,
            self.x_scaler.scale_,
        )
        with torch.no_grad():
            scaled = self.model(torch.from_numpy(x.astype(np.float32))).double().numpy()
        return to_price(log_prices[ends, CLOSE], scaled, self.y_scaler)

    def save(self, folder: Path) -> None:
        """Write ``weights.pt`` and ``forecaster.json`` into ``folder`` (atomically each)."""
        folder.mkdir(parents=True, exist_ok=True)
        with storage.atomic_path(folder / WEIGHTS) as tmp:
            torch.save(self.model.state_dict(), tmp)
        spec = {
            "model": dataclasses.asdict(self.model.cfg),
            "window": self.window,
            "x_scaler": scaler_state(self.x_scaler),
            "y_scaler": scaler_state(self.y_scaler),
            "meta": self.meta,
        }
        storage.write_text(folder / SPEC, json.dumps(spec, indent=2))

    @classmethod
    def load(cls, folder: Path) -> Forecaster:
        """Rebuild a Forecaster saved by ``save`` (weights loaded with weights_only=True)."""
        spec = json.loads((folder / SPEC).read_text())
        model = StockRNN(ModelConfig(**spec["model"]), N_FEATURES)
        model.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True))
        return cls(
            model,
            scaler_from_state(spec["x_scaler"]),
            scaler_from_state(spec["y_scaler"]),
            spec["window"],
            spec.get("meta", {}),
        )


def _ohlc(rows: pd.DataFrame, window: int) -> np.ndarray:
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
