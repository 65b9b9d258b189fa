"""The Forecaster as an MLflow pyfunc model (``pyfunc_entry.py`` builds it from code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from pipeline.serving.forecaster import Forecaster


class StockcastModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: rows of OHLC in; the next Close and its interval bounds out.

    The answer's columns are ``predicted_close`` and ``lower_<p>``/``upper_<p>``
    per level ``p`` in percent (``lower_90``, ``upper_90`` by default).

    ``params`` may carry online ACI's miss rate per level (``aci_alpha_90``; the
    forecast job's rate from the store): the bounds are then re-cut at it from the
    calibration residuals the model carries. The defaults give the calibrated bounds.

    Holds no state when pickled; everything is read from the logged artifacts.
    """

    def load_context(self, context: Any) -> None:
        self.forecaster = Forecaster.load(Path(context.artifacts["forecaster"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        return self.forecaster.answer(model_input, self.forecaster.alphas_from_params(params))
