"""``inference``: the logged pyfunc model, for one window and for a batch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import torch

from benchmarks.harness import Bench, BenchConfig, Row, median, mlflow_store, time_jobs
from pipeline.config import Config, ModelConfig
from pipeline.core.features import N_FEATURES, Features
from pipeline.core.network import StockRNN
from pipeline.data.validate import PRICE_COLUMNS
from pipeline.models.training import seed_everything
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking import lifecycle
from pipeline.tracking.models import log_model
from pipeline.tracking.store import prepare_experiment


def bench_inference(
    features: Features,
    prices: pd.DataFrame,
    model_cfg: ModelConfig,
    settings: BenchConfig,
    folder: Path,
) -> dict[str, Any]:
    """Latency of the logged pyfunc model for one window, and throughput for a batch.

    The network keeps its seeded initial weights: speed does not depend on
    what it learnt. The model is logged and loaded back through MLflow; the
    batch goes through the loaded model's forecaster (pyfunc ``predict``
    answers one forecast per call), on the CPU, where the Forecaster runs.
    """
    seed_everything(settings.seed)
    window = features.window
    forecaster = Forecaster(
        StockRNN(model_cfg, N_FEATURES, features.horizon),
        features.x_scaler,
        features.y_scaler,
        window,
    )
    rows = prices[list(PRICE_COLUMNS)].reset_index(drop=True)
    one = rows.iloc[-window:]
    batch = rows.iloc[-(settings.batch_windows + window - 1) :]
    with mlflow_store(folder):
        cfg = Config(tickers=(settings.ticker,), experiment="stockcast-bench")
        experiment_id = prepare_experiment(cfg.experiment)
        with lifecycle.run(cfg, settings.ticker, experiment_id=experiment_id, kind="bench"):
            uri = log_model(forecaster, one).model_uri
        began = time.perf_counter()
        model = mlflow.pyfunc.load_model(uri)
        load_s = time.perf_counter() - began
    loaded = model.unwrap_python_model().forecaster
    cpu = torch.device("cpu")
    latency = time_jobs({"one": lambda: model.predict(one)}, settings.latency_calls, cpu)
    throughput = time_jobs({"batch": lambda: loaded.forecast(batch)}, settings.repeats, cpu)
    batch_s = median(throughput["batch"])
    return {
        "pyfunc_one_window_ms": 1000 * median(latency["one"]),
        "batch_windows": settings.batch_windows,
        "batch_s": batch_s,
        "windows_per_s": settings.batch_windows / batch_s,
        "load_s": load_s,
        "device": "cpu",
    }


def measure(bench: Bench) -> dict[str, Any]:
    """This part's figures, at ``bench``'s sizes."""
    figures = bench_inference(
        bench.features, bench.prices, bench.base.model, bench.settings, bench.folder / "run"
    )
    return {"inference": figures}


def rows(results: dict[str, Any]) -> list[Row]:
    """This part's lines of the table."""
    i = results["inference"]
    return [
        (
            "inference",
            f"{i['pyfunc_one_window_ms']:.2f} ms",
            "",
            f"pyfunc predict, 1 window; forecaster {i['batch_windows']} windows in "
            f"{i['batch_s'] * 1000:.1f} ms ({i['windows_per_s']:,.0f} windows/s)",
        )
    ]
