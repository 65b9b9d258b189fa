"""The Forecaster as an MLflow pyfunc model (``pyfunc_entry.py`` builds it from code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from pipeline.serving.forecaster import Forecaster


class StockcastModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: rows of OHLC in; the Close of each of the next H sessions and
    its interval bounds out.

    The input is at least ``window`` rows of ``Open``, ``High``, ``Low``, ``Close``,
    oldest first, with an optional ``Date`` column (or a DatetimeIndex, in process).
    The answer has one row per horizon ``1..H``: ``horizon``, ``target_date`` (the
    ``horizon``-th session after the last row's date on the model's exchange calendar,
    XNYS unless it was trained with another; empty when the rows carry no dates),
    ``predicted_close`` and ``lower_<p>``/``upper_<p>`` per level ``p`` in percent
    (``lower_90``, ``upper_90`` by default). A model saved before intervals gives
    ``predicted_close`` only; one saved before horizons gives one row (horizon 1).

    ``params`` may carry online ACI's miss rate per level (``aci_alpha_90``: the next
    session's; ``aci_alpha_90_h2``, ``aci_alpha_90_h3``, ...: that horizon's; the
    forecast job's rates from the store): those bounds are then re-cut at it from the
    calibration residuals the model carries. The defaults give the calibrated bounds;
    a horizon given no rate keeps them.

    Holds no state when pickled; everything is read from the logged artifacts.
    """

    def load_context(self, context: Any) -> None:
        self.forecaster = Forecaster.load(Path(context.artifacts["forecaster"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        return self.forecaster.answer(model_input, self.forecaster.alphas_from_params(params))
