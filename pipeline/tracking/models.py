"""The pyfunc model logged with each run: the Forecaster's files, built from code."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from pipeline.serving import pyfunc_entry_path
from pipeline.serving.forecaster import Forecaster

MODEL_NAME = "model"  # artifact name of the pyfunc model inside a run


def log_model(forecaster: Forecaster, example_rows: pd.DataFrame) -> str:
    """Log the forecaster as a pyfunc model with signature and input example; return its URI."""
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
    return info.model_uri


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
