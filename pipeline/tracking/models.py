"""The pyfunc model logged with each run: the Forecaster's files, built from code.

The model stands alone: it carries the ``pipeline`` modules it runs (``code_paths``, which
MLflow puts first on ``sys.path`` when loading) and pins every package they import, so an
environment built from its own ``requirements.txt`` serves it (tests/serving/test_standalone.py).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import Metric
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema

from pipeline.serving import pyfunc_entry_path
from pipeline.serving.forecaster import Forecaster, aci_params
from pipeline.tracking import lifecycle
from pipeline.tracking.served_code import copy_served_code, requirements

MODEL_NAME = "model"  # artifact name of the pyfunc model inside a run
# Metrics logged once per epoch (training's losses, each scale head's NLL); the rest of what
# training logs is logged once, at step 0 (best_epoch, shrink_factor, conformal multipliers, ...).
_PER_EPOCH = re.compile(r"(train|val)_loss|scale_\w+_(train|val)_nll")


def log_model(forecaster: Forecaster, example_rows: pd.DataFrame) -> ModelInfo:
    """Log the forecaster as a pyfunc model with signature and input example.

    MLflow links the active run's metrics of the model's step to it. That step is
    the best epoch (training's ``best_epoch``), whose weights the model carries, so
    the model shows their ``train_loss`` and ``val_loss``, not the untrained
    network's of step 0; training's one-off metrics, logged at step 0, are linked
    too (``_link_training``). (MLflow links by step number, so the scale heads' NLL
    of the same epoch number comes along.) MLflow fetches every metric's history one request at
    a time: log the model before the test scores (and pass those its ``model_id``),
    or a run against a server pays ~50 ms a metric.
    """
    active = mlflow.active_run()
    if active is not None:  # the metrics MLflow links to the model must be stored first
        lifecycle.wait_logged(active.info.run_id)
    best_epoch = _best_epoch()
    example = _example(example_rows)
    output = forecaster.answer(example)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "forecaster"
        forecaster.save(folder)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(pyfunc_entry_path()),
            artifacts={"forecaster": str(folder)},
            code_paths=[str(copy_served_code(Path(tmp) / "code"))],
            signature=_signature(example, output, forecaster),
            input_example=example,
            pip_requirements=list(requirements()),
            step=best_epoch,
        )
    if best_epoch:
        _link_training(info.model_id)
    return info


def _example(rows: pd.DataFrame) -> pd.DataFrame:
    """The input example: OHLC rows with their ``Date`` column, when ``rows`` are dated."""
    example = rows[["Open", "High", "Low", "Close"]].reset_index(drop=True)
    if isinstance(rows.index, pd.DatetimeIndex):
        example.insert(0, "Date", rows.index.to_numpy())
    return example


def _signature(example: pd.DataFrame, output: pd.DataFrame, forecaster: Forecaster):
    """The model's signature: the example's columns in (``Date`` optional: without it the
    answer's ``target_date`` is empty), the answer's out, online ACI's rates as params."""
    signature = infer_signature(example, output, params=_params(forecaster))
    columns = [
        ColSpec(c.type, c.name, required=False) if c.name == "Date" else c
        for c in signature.inputs.inputs
    ]
    return ModelSignature(Schema(columns), signature.outputs, signature.params)


def _params(forecaster: Forecaster) -> dict[str, float] | None:
    """Online ACI's rates per level and horizon as the model's parameters, when it carries
    its calibration."""
    horizons = forecaster.adaptable_horizons()
    if not horizons:
        return None
    return aci_params(forecaster.multipliers.levels, horizons)


def _best_epoch() -> int:
    """The active run's ``best_epoch`` (0 when there is no run or it trained nothing)."""
    active = mlflow.active_run()
    if active is None:
        return 0
    metrics = mlflow.MlflowClient().get_run(active.info.run_id).data.metrics
    return int(metrics.get("best_epoch", 0))


def _link_training(model_id: str) -> None:
    """Link the active run's one-off training metrics (step 0) to the logged model.

    Logged again as they were (same value, step and time), so the run's history keeps one
    point each and only the link to the model is new.
    """
    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    keys = [k for k in client.get_run(run_id).data.metrics if not _PER_EPOCH.fullmatch(k)]
    linked = [
        Metric(m.key, m.value, m.timestamp, m.step, model_id=model_id)
        for key in keys
        for m in client.get_metric_history(run_id, key)
        if m.step == 0
    ]
    client.log_batch(run_id, metrics=linked)
