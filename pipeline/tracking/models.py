"""The pyfunc model logged with each run: the Forecaster's files, built from code.

The model stands alone: it carries the ``pipeline`` modules it runs (``code_paths``, which
MLflow puts first on ``sys.path`` when loading) and pins every package they import, so an
environment built from its own ``requirements.txt`` serves it (tests/serving/test_standalone.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from pipeline.serving import pyfunc_entry_path
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking.served_code import copy_served_code, requirements

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
            code_paths=[str(copy_served_code(Path(tmp) / "code"))],
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=list(requirements()),
        )
    return info
