"""``stage_seconds`` / ``logging_share``: the ``make all`` path (``jobs.all.run_all`` through
the driver) on the sample, split by stage, in a temporary folder."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import torch

from benchmarks.harness import (
    Bench,
    BenchConfig,
    Row,
    median,
    mlflow_store,
    paired_ratios,
    ratio_row,
)
from pipeline.config import ClusterConfig, Config, Paths, RuntimeConfig, TrainConfig
from pipeline.errors import StockcastError
from pipeline.jobs.all import run_all as all_job
from pipeline.jobs.stages import TRAINING
from pipeline.runtime.common import StageClock
from pipeline.runtime.driver import run_groups
from pipeline.tracking.store import prepare_experiment

STAGES = ("fetch", "features", "train", "evaluate", "mlflow")


def run_config(settings: BenchConfig, device: torch.device, amp: bool, folder: Path) -> Config:
    """The default config of ``make all`` with a network per ticker (the figures compare each
    ticker's training with a bare loop on it), writing under ``folder``, without progress bars."""
    train = TrainConfig()
    if settings.run_epochs is not None:
        train = dataclasses.replace(train, epochs=settings.run_epochs)
    return Config(
        tickers=settings.run_tickers,
        train=train,
        cluster=ClusterConfig(scope="ticker"),
        runtime=RuntimeConfig(
            device=device.type, amp=amp, progress=False, threads=torch.get_num_threads()
        ),  # --threads, or torch's default: not the idle cores, which vary run to run
        paths=Paths(data_dir=folder / "data", reports_dir=folder / "reports"),
        experiment="stockcast-bench",
    )


def run_all(cfg: Config) -> tuple[dict[str, float], dict[str, int]]:
    """One ``make all``: seconds per stage and epochs run per ticker (tables not printed).

    A ticker that fails makes it raise StockcastError, one line with the job's error lines.
    """
    clock = StageClock()
    errors = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
        with clock.stage("mlflow"):
            experiment_id = prepare_experiment(cfg.experiment)
        code = run_groups(cfg, all_job, experiment_id, clock)
    if code != 0:
        lines = errors.getvalue().splitlines()
        said = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
        failure = StockcastError(f"make all failed (exit {code}): {'; '.join(said)}")
        failure.exit_code = code
        raise failure
    sys.stderr.write(errors.getvalue())  # warnings and the like, as they came
    epochs = {
        t: len(json.loads((cfg.paths.processed_dir(t) / TRAINING).read_text())["history"]) - 1
        for t in cfg.tickers
    }
    return {stage: clock.seconds.get(stage, 0.0) for stage in STAGES}, epochs


def mlflow_import_seconds() -> float:
    """Seconds a fresh interpreter takes to import MLflow once torch, pandas, sklearn are in."""
    code = (
        "import time, numpy, pandas, sklearn, torch\n"
        "t = time.perf_counter()\n"
        "import mlflow, mlflow.pyfunc, mlflow.models\n"
        "print(time.perf_counter() - t)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def bench_stages(
    settings: BenchConfig, device: torch.device, amp: bool, folder: Path, uri: str | None = None
) -> dict[str, Any]:
    """Seconds per stage of a ``make all`` run on the sample, and MLflow logging's share.

    The runs work in a new store in ``folder / "run"``, whose creation is timed
    first. A one-epoch run of the first ticker warms up; the timed runs then
    log into that store, as a scheduled retrain does. MLflow's import (paid by
    every ``make all``, a new process) and the store's creation (paid by the
    first in a folder) are reported apart and in shares that include them.
    """
    cfg = run_config(settings, device, amp, folder / "run")
    warm = dataclasses.replace(
        cfg, tickers=cfg.tickers[:1], train=dataclasses.replace(cfg.train, epochs=1)
    )
    with mlflow_store(folder / "run", uri):
        began = time.perf_counter()
        mlflow.set_experiment(cfg.experiment)  # creates the SQLite store and its tables
        create_s = time.perf_counter() - began
        run_all(warm)
        runs = [run_all(cfg) for _ in range(settings.long_repeats)]
    stage_seconds = {s: median([seconds[s] for seconds, _ in runs]) for s in STAGES}
    total = sum(stage_seconds.values())
    import_s, mlflow_s = mlflow_import_seconds(), stage_seconds["mlflow"]
    share = paired_ratios(
        [seconds["mlflow"] for seconds, _ in runs],
        [sum(seconds.values()) for seconds, _ in runs],
        statistic="median of the runs' shares",
    )
    return {
        "stage_seconds": stage_seconds,
        "logging_share": share["value"],
        "ratios": {"logging_share": share},
        "stage_run": {
            "tickers": list(cfg.tickers),
            "epochs_run": runs[-1][1],
            "total_s": total,
            "run_totals_s": [sum(seconds.values()) for seconds, _ in runs],
            "mlflow_import_s": import_s,
            "store_create_s": create_s,
            # `make all` is a new process: it imports MLflow every time, and the
            # first one in a folder also creates the store.
            "logging_share_new_process": (mlflow_s + import_s) / (total + import_s),
            "logging_share_first_run": (mlflow_s + import_s + create_s)
            / (total + import_s + create_s),
        },
    }


def measure(bench: Bench) -> dict[str, Any]:
    """This part's figures, at ``bench``'s sizes."""
    return bench_stages(bench.settings, bench.device, bench.amp, bench.folder)


def rows(results: dict[str, Any]) -> list[Row]:
    """This part's lines of the table."""
    r, s = results["stage_run"], results["stage_seconds"]
    stages = ", ".join(f"{k} {v:.2f}" for k, v in s.items())
    measured = (
        f"medians: mlflow {s['mlflow']:.2f} s of {r['total_s']:.2f} s; "
        f"{r['logging_share_new_process']:.3f} with its import ({r['mlflow_import_s']:.2f} s), "
        f"{r['logging_share_first_run']:.3f} with a new store too ({r['store_create_s']:.2f} s)"
    )
    return [
        ratio_row("logging_share", results["ratios"]["logging_share"], 3, "<= 0.25", measured),
        (
            "stage_seconds",
            f"{r['total_s']:.2f}",
            "",
            f"{stages} ({','.join(r['tickers'])}; epochs {r['epochs_run']})",
        ),
    ]
