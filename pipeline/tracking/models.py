"""The pyfunc model logged with each run: the Forecaster's files, built from code."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from pipeline.serving import pyfunc_entry_path
from pipeline.serving.forecaster import Forecaster

MODEL_NAME = "model"  # artifact name of the pyfunc model inside a run


def log_model(forecaster: Forecaster, example_rows: pd.DataFrame) -> ModelInfo:
    """Log the forecaster as a pyfunc model with signature and input example.

    MLflow then links the run's metrics of step 0 to the model, fetching every
    metric's history one request at a time: log it before the test scores (and
    pass those its ``model_id``), or a run against a server pays ~50 ms a metric.
    """
    example = example_rows[["Open", "High", "Low", "Close"]].reset_index(drop=True)
    output = forecaster.answer(example)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "forecaster"
        forecaster.save(folder)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(pyfunc_entry_path()),
            artifacts={"forecaster": str(folder)},
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=_requirements(),
        )
    return info


def _requirements() -> list[str]:
    import sklearn
    import torch

    def pinned(name: str, version: str) -> str:
        return f"{name}=={version.split('+')[0]}"

    return [
        pinned("mlflow", mlflow.__version__),
        pinned("torch", torch.__version__),
        pinned("pandas", pd.__version__),
        pinned("numpy", np.__version__),
        pinned("scikit-learn", sklearn.__version__),
    ]
