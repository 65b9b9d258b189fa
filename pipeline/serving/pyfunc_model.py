"""The Forecaster as an MLflow pyfunc model (``pyfunc_entry.py`` builds it from code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from pipeline.serving.forecaster import OUTPUT_COLUMN, Forecaster


class StockcastModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: rows of OHLC in, one forecast Close out.

    Holds no state when pickled; everything is read from the logged artifacts.
    """

    def load_context(self, context: Any) -> None:
        self.forecaster = Forecaster.load(Path(context.artifacts["forecaster"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        value = self.forecaster.forecast(model_input)[-1]
        return pd.DataFrame({OUTPUT_COLUMN: [float(value)]})
