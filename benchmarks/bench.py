"""Benchmarks (``make bench``): what the pipeline itself costs, against plain baselines.

Each figure compares two things measured in this process on the same data:
every job runs once to warm up, then ``repeats`` times. Jobs that form a ratio
run in turns (A, B, A, B, ...), so a change in the machine's speed during the
run (other load, clock scaling) reaches both sides, and each ratio is the
median of the paired ratios (round i's A over round i's B), with their min and
max as its spread (``paired_ratios``; the JSON's ``ratios`` says so for each).
Each part's figures are written (and printed) as soon as the part ends.

- ``data_path_speedup``: one epoch of batches the tutorial's way (a Dataset
  slicing one window per item, through a DataLoader) over the pipeline's way
  (``DeviceData``: windows gathered by index from a strided view), same windows.
- ``train_overhead_ratio``: one epoch of ``train.train_epoch`` over a bare loop
  on windows already materialised in one tensor; same model, seed, batch
  order, optimiser and clipping, so both loops compute the same losses.
- ``stage_seconds`` / ``logging_share``: the ``make all`` path
  (``jobs.all.run_all`` through the driver) on the sample, split by stage, in a temporary folder.
- ``server_logging_share``: the same against the PostgreSQL-backed tracking server that a
  cluster logs to (``scripts/tracking-server`` in a temporary folder), and the server's
  time per request.
- ``features_scaling``: time and peak memory (tracemalloc) of building features
  and window views for synthetic tickers.
- ``inference``: the logged pyfunc model, for one window and for a batch.

``python -m benchmarks.bench --help`` lists the options; ``--quick`` is a smoke test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import MinMaxScaler
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks import tracking_throughput
from pipeline import storage
from pipeline.config import Config, FeatureConfig, ModelConfig, Paths, RuntimeConfig, TrainConfig
from pipeline.core.features import CLOSE, N_FEATURES, Features, build_features
from pipeline.core.network import StockRNN
from pipeline.data.sources import load_sample
from pipeline.data.validate import PRICE_COLUMNS
from pipeline.errors import ConfigError, StockcastError
from pipeline.jobs.all import run_all as all_job
from pipeline.jobs.stages import TRAINING
from pipeline.models.training import DeviceData, pick_device, seed_everything, train_epoch
from pipeline.runtime.common import StageClock
from pipeline.runtime.driver import run_groups
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking import lifecycle
from pipeline.tracking.models import log_model
from pipeline.tracking.store import prepare_experiment

DEFAULT_OUT = Path("bench-results") / "bench.json"
STAGES = ("fetch", "features", "train", "evaluate", "mlflow")


@dataclass(frozen=True)
class BenchConfig:
    """Sizes and repeats of every benchmark; ``quick()`` shrinks them to a smoke test."""

    ticker: str = "AAPL"  # sample ticker whose windows the epoch benchmarks use
    run_tickers: tuple[str, ...] = ("AAPL", "MSFT")  # tickers of the make-all run (its default)
    run_epochs: int | None = None  # epochs of the make-all run; None keeps the config's default
    repeats: int = 7  # timed repeats of the epoch and inference benchmarks, after one warm-up
    long_repeats: int = 3  # timed repeats of the slow benchmarks (whole run, 500 tickers)
    latency_calls: int = 50  # timed calls of the one-window inference latency
    train_samples: int | None = None  # cap on training windows per epoch; None uses them all
    scaling_tickers: tuple[int, ...] = (10, 100, 500)  # synthetic ticker counts
    scaling_days: int = 5000  # trading days per synthetic ticker
    batch_windows: int = 1000  # windows in the inference throughput batch
    seed: int = 42  # seeds models, batch order and synthetic prices

    @classmethod
    def quick(cls) -> BenchConfig:
        """Tiny sizes and one repeat: checks that every benchmark runs, in seconds."""
        return cls(
            run_tickers=("AAPL",),
            run_epochs=1,
            repeats=1,
            long_repeats=1,
            latency_calls=3,
            train_samples=256,
            scaling_tickers=(2, 4),
            scaling_days=300,
            batch_windows=10,
        )


# --------------------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that the clock reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_jobs(
    jobs: dict[str, Callable[[], object]], repeats: int, device: torch.device
) -> dict[str, list[float]]:
    """Seconds per run of each job: one warm-up run each, then ``repeats`` rounds in turns."""
    for job in jobs.values():
        job()
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            _sync(device)
            began = time.perf_counter()
            job()
            _sync(device)
            times[name].append(time.perf_counter() - began)
    return times


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _summary(times: dict[str, list[float]], **extra: Any) -> dict[str, Any]:
    """Median seconds of each job (as ``<job>_s``), every repeat, and ``extra``."""
    return {**{f"{job}_s": _median(t) for job, t in times.items()}, "repeats_s": times, **extra}


RATIO_STATISTIC = "median of paired ratios"


def paired_ratios(
    numerator: list[float], denominator: list[float], statistic: str = RATIO_STATISTIC
) -> dict[str, Any]:
    """A ratio from paired runs: the median of round i's numerator over round i's denominator.

    The two runs of a pair ran back to back, under the same load. One slow run
    changes one paired ratio, which moves the median by at most one rank: it
    cannot flip the figure the way it can move the median of one side. ``min``
    and ``max`` of the paired ratios are the spread; the ratio of the two sides'
    minimums (which a slow run cannot reach either) and of their medians are kept too.
    """
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return {
        "value": _median(ratios),
        "statistic": statistic,
        "min": min(ratios),
        "max": max(ratios),
        "ratio_of_minimums": min(numerator) / min(denominator),
        "ratio_of_medians": _median(numerator) / _median(denominator),
        "paired_ratios": ratios,
    }


def format_ratio(ratio: dict[str, Any], digits: int) -> str:
    """``1.03 [0.98-1.05]``: the figure, and the spread of its paired ratios."""
    return f"{ratio['value']:.{digits}f} [{ratio['min']:.{digits}f}-{ratio['max']:.{digits}f}]"


# --------------------------------------------------------------------------- data path


class TutorialWindows(Dataset):
    """The tutorial's data path: MinMax-scaled prices, one window sliced per item.

    Slices are wrapped with ``torch.from_numpy`` (no copy); the DataLoader's
    collate function then stacks them into a batch.
    """

    def __init__(self, scaled: np.ndarray, ends: np.ndarray, window: int) -> None:
        self.scaled = scaled
        self.ends = ends
        self.window = window

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        end = int(self.ends[i])
        x = torch.from_numpy(self.scaled[end - self.window + 1 : end + 1])
        return x, torch.from_numpy(self.scaled[end + 1, CLOSE : CLOSE + 1])


def tutorial_epoch(
    raw: np.ndarray,
    scaler: MinMaxScaler,
    ends: np.ndarray,
    window: int,
    batch_size: int,
    device: torch.device,
    generator: torch.Generator,
) -> float:
    """Build the tutorial's Dataset and DataLoader, and touch every batch once."""
    scaled = scaler.transform(raw).astype(np.float32)
    loader = DataLoader(
        TutorialWindows(scaled, ends, window),
        batch_size=batch_size,
        shuffle=True,
        num_workers=0,
        generator=generator,
    )
    total = torch.zeros((), device=device)
    for x, y in loader:
        total += x.to(device).sum() + y.to(device).sum()
    return total.item()


def pipeline_epoch(
    features: Features,
    ends: np.ndarray,
    batch_size: int,
    device: torch.device,
    generator: torch.Generator,
) -> float:
    """Build ``DeviceData`` as ``fit`` does, and touch every batch of one shuffled epoch."""
    data = DeviceData(features, device)
    index = data.ends(ends)
    order = index[torch.randperm(len(index), generator=generator).to(device)]
    total = torch.zeros((), device=device)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        total += data.batch(idx).sum() + data.targets[idx].sum()
    return total.item()


def bench_data_path(
    features: Features,
    prices: pd.DataFrame,
    batch_size: int,
    device: torch.device,
    repeats: int,
    seed: int,
    samples: int | None = None,
) -> dict[str, Any]:
    """Seconds per epoch of batches, the tutorial's way and the pipeline's, same windows.

    Both start from fitted scalers (the tutorial's MinMaxScaler on the training
    rows, the pipeline's from ``build_features``) and include building their
    data structures, as a training run pays for both once per epoch at least.
    """
    ends = features.split.train[:samples]
    raw = prices[list(PRICE_COLUMNS)].to_numpy(dtype=np.float64)
    scaler = MinMaxScaler().fit(raw[: ends[-1] + 2])
    tutorial_gen = torch.Generator().manual_seed(seed)
    pipeline_gen = torch.Generator().manual_seed(seed)
    times = time_jobs(
        {
            "tutorial": lambda: tutorial_epoch(
                raw, scaler, ends, features.window, batch_size, device, tutorial_gen
            ),
            "pipeline": lambda: pipeline_epoch(features, ends, batch_size, device, pipeline_gen),
        },
        repeats,
        device,
    )
    detail = _summary(times, windows=len(ends), batch_size=batch_size)
    ratio = paired_ratios(times["tutorial"], times["pipeline"])
    return {
        "data_path_speedup": ratio["value"],
        "data_path": detail,
        "ratios": {"data_path_speedup": ratio},
    }


# --------------------------------------------------------------------------- training


def bare_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    clip_norm: float,
    generator: torch.Generator,
    amp: bool = False,
) -> float:
    """The plain PyTorch epoch: shuffled slices of tensors already holding every window.

    It does what ``train_epoch`` does per step (the MSE of each horizon over h,
    clipping, Adam, a loss total kept on the device) and nothing else.
    """
    model.train()
    weights = 1.0 / torch.arange(1, y.shape[1] + 1, dtype=torch.float32, device=y.device)
    perm = torch.randperm(len(x), generator=generator).to(x.device)
    total = torch.zeros((), device=x.device)
    for start in range(0, len(x), batch_size):
        idx = perm[start : start + batch_size]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(x[idx])
        loss = ((pred.float() - y[idx]) ** 2 * weights).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss.detach() * len(idx)
    return (total / len(x)).item()


def _seeded_model(
    model_cfg: ModelConfig, train_cfg: TrainConfig, device: torch.device, horizon: int
) -> tuple[StockRNN, torch.optim.Optimizer]:
    seed_everything(train_cfg.seed)
    model = StockRNN(model_cfg, N_FEATURES, horizon).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
    )
    return model, optimizer


def bench_train_overhead(
    features: Features,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    device: torch.device,
    repeats: int,
    samples: int | None = None,
    amp: bool = False,
) -> dict[str, Any]:
    """Seconds per training epoch through ``train_epoch`` and through ``bare_epoch``.

    Both models start from the same seed and draw the same batch order, so
    their per-epoch losses agree; ``same_losses`` says whether they did.
    """
    amp = amp and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = DeviceData(features, device)
    ends = data.ends(features.split.train[:samples])
    x = data.batch(ends).contiguous()  # the bare loop's data: every window, materialised
    y = data.targets[ends].contiguous()
    pipe_model, pipe_opt = _seeded_model(model_cfg, train_cfg, device, features.horizon)
    bare_model, bare_opt = _seeded_model(model_cfg, train_cfg, device, features.horizon)
    pipe_gen = torch.Generator().manual_seed(train_cfg.seed)
    bare_gen = torch.Generator().manual_seed(train_cfg.seed)
    bs, clip = train_cfg.batch_size, train_cfg.clip_norm
    losses: dict[str, list[float]] = {"pipeline": [], "bare": []}

    def pipeline_job() -> None:
        loss = train_epoch(pipe_model, pipe_opt, data, ends, bs, clip, pipe_gen, amp)
        losses["pipeline"].append(loss)

    def bare_job() -> None:
        losses["bare"].append(bare_epoch(bare_model, bare_opt, x, y, bs, clip, bare_gen, amp))

    times = time_jobs({"pipeline": pipeline_job, "bare": bare_job}, repeats, device)
    same_losses = bool(np.allclose(losses["pipeline"], losses["bare"], rtol=1e-4))
    detail = _summary(times, windows=len(ends), batch_size=bs, amp=amp, same_losses=same_losses)
    ratio = paired_ratios(times["pipeline"], times["bare"])
    return {
        "train_overhead_ratio": ratio["value"],
        "train_epoch": detail,
        "ratios": {"train_overhead_ratio": ratio},
    }


# --------------------------------------------------------------------------- whole run


@contextlib.contextmanager
def mlflow_store(folder: Path, uri: str | None = None) -> Iterator[str]:
    """Work in ``folder`` with MLflow's default layout there (or log to ``uri``, a tracking
    server); restore everything after."""
    folder.mkdir(parents=True, exist_ok=True)
    uri = uri or f"sqlite:///{folder / 'mlflow.db'}"
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    before_cwd, before_env = Path.cwd(), {name: os.environ.get(name) for name in names}
    os.chdir(folder)
    mlflow.set_tracking_uri(uri)  # both set their environment variable too
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        os.chdir(before_cwd)
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)  # which leaves MLFLOW_REGISTRY_URI behind
        for name, value in before_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_config(settings: BenchConfig, device: torch.device, amp: bool, folder: Path) -> Config:
    """The default config of ``make all``, writing under ``folder``, without progress bars."""
    train = TrainConfig()
    if settings.run_epochs is not None:
        train = dataclasses.replace(train, epochs=settings.run_epochs)
    return Config(
        tickers=settings.run_tickers,
        train=train,
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
    stage_seconds = {s: _median([seconds[s] for seconds, _ in runs]) for s in STAGES}
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


def bench_stages_server(
    settings: BenchConfig, device: torch.device, amp: bool, folder: Path
) -> dict[str, Any]:
    """``bench_stages`` against the PostgreSQL-backed tracking server (``make tracking-server``,
    started in a temporary folder), with the server's median request time on a kept-alive
    connection (``get_experiment``, the smallest request)."""
    with tracking_throughput.temporary_server() as uri:
        figures = bench_stages(settings, device, amp, folder / "server", uri)
        client = mlflow.MlflowClient(uri)
        seconds = []
        for _ in range(settings.latency_calls):
            began = time.perf_counter()
            client.get_experiment("0")
            seconds.append(time.perf_counter() - began)
    return {
        "server_stage_seconds": figures["stage_seconds"],
        "server_logging_share": figures["logging_share"],
        "ratios": {"server_logging_share": figures["ratios"]["logging_share"]},
        "server_stage_run": {**figures["stage_run"], "request_ms": _median(seconds) * 1e3},
    }


# --------------------------------------------------------------------------- features


def synthetic_prices(n_tickers: int, days: int, seed: int) -> list[pd.DataFrame]:
    """Valid random-walk OHLC frames on business days, one per ticker."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2000-01-03", periods=days, name="Date")
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, (n_tickers, days)), axis=1))
    open_ = close * np.exp(rng.normal(0.0, 0.005, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.005, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.005, close.shape)))
    return [
        pd.DataFrame({"Open": o, "High": h, "Low": lo, "Close": c}, index=index)
        for o, h, lo, c in zip(open_, high, low, close, strict=True)
    ]


def build_all(frames: list[pd.DataFrame], cfg: FeatureConfig) -> list[tuple[Features, np.ndarray]]:
    """Features and the window view of every frame."""
    out = []
    for frame in frames:
        features = build_features(frame, cfg)
        out.append((features, features.windows()))
    return out


def _peak_bytes(func: Callable[[], object]) -> int:
    """Peak bytes that Python and numpy allocated while ``func`` ran (its result kept alive)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak


def bench_features_scaling(
    counts: tuple[int, ...], days: int, repeats: int, seed: int, cfg: FeatureConfig
) -> dict[str, Any]:
    """Time (median) and peak memory of features and window views for each ticker count.

    Each round times every count in turn. Memory is measured in a separate,
    untimed pass, because tracemalloc slows allocation down. Growth is the
    per-ticker cost at the largest count over that at the smallest (time: the
    median of the rounds' ratios): 1.0 is linear.
    """
    frames = synthetic_prices(max(counts), days, seed)
    build_all(frames[: min(counts)], cfg)  # warm-up
    seconds: dict[int, list[float]] = {n: [] for n in counts}
    views = True
    for _ in range(repeats):
        for n in counts:
            began = time.perf_counter()
            built = build_all(frames[:n], cfg)
            seconds[n].append(time.perf_counter() - began)
            views = views and all(np.shares_memory(w, f.log_prices) for f, w in built)
            del built
    sizes: dict[str, dict[str, float]] = {}
    for n in counts:
        peak = _peak_bytes(lambda n=n: build_all(frames[:n], cfg))
        sizes[str(n)] = {"seconds": _median(seconds[n]), "peak_mib": peak / 2**20}
    small, large = min(counts), max(counts)
    growth = paired_ratios([t / large for t in seconds[large]], [t / small for t in seconds[small]])
    windows_per_ticker = days - cfg.window + 1
    scaling = {
        "days": days,
        "by_tickers": sizes,
        "time_growth": growth["value"],
        "memory_growth": sizes[str(large)]["peak_mib"]
        / large
        / (sizes[str(small)]["peak_mib"] / small),
        "windows_are_views": views,
        "materialised_windows_mib": max(counts) * windows_per_ticker * cfg.window * 4 * 8 / 2**20,
    }
    return {"features_scaling": scaling, "ratios": {"features_scaling": growth}}


# --------------------------------------------------------------------------- inference


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
    batch_s = _median(throughput["batch"])
    return {
        "pyfunc_one_window_ms": 1000 * _median(latency["one"]),
        "batch_windows": settings.batch_windows,
        "batch_s": batch_s,
        "windows_per_s": settings.batch_windows / batch_s,
        "load_s": load_s,
        "device": "cpu",
    }


# --------------------------------------------------------------------------- all of it


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


PARTS = ("data_path", "train_epoch", "stages", "stages_server", "features_scaling", "inference")


def run_part(
    results: dict[str, Any],
    part: str,
    measure: Callable[[], dict[str, Any]],
    on_part: Callable[[dict[str, Any], str], None] | None = None,
) -> None:
    """Merge what ``measure`` returns into ``results``, then call ``on_part(results, part)``.

    Its ``ratios`` join ``results["ratios"]``. A StockcastError (a ticker that
    failed in the make-all run, say) is kept in ``results["errors"]`` instead,
    and the other parts still run.
    """
    began = time.perf_counter()
    try:
        figures = measure()
    except StockcastError as exc:
        results["errors"][part] = {"error": str(exc), "exit_code": exc.exit_code}
    else:
        results["ratios"].update(figures.get("ratios", {}))
        results.update({key: value for key, value in figures.items() if key != "ratios"})
    results["part_seconds"][part] = time.perf_counter() - began
    if on_part:
        on_part(results, part)


def run_benchmarks(
    settings: BenchConfig,
    device: torch.device,
    amp: bool,
    folder: Path,
    on_part: Callable[[dict[str, Any], str], None] | None = None,
) -> dict[str, Any]:
    """Every benchmark, in one dictionary ready for JSON; ``on_part`` sees it after each part."""
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(device),
        "settings": {**dataclasses.asdict(settings), "amp": amp},
        "ratios": {},  # each ratio's statistic, spread and paired ratios
        "errors": {},  # parts that failed: their error line and exit code
        "part_seconds": {},
    }
    base = Config()
    prices = load_sample(settings.ticker)
    features = build_features(prices, base.features, settings.ticker)
    train_cfg = dataclasses.replace(base.train, seed=settings.seed)
    run_part(
        results,
        "data_path",
        lambda: bench_data_path(
            features,
            prices,
            base.train.batch_size,
            device,
            settings.repeats,
            settings.seed,
            settings.train_samples,
        ),
        on_part,
    )
    run_part(
        results,
        "train_epoch",
        lambda: bench_train_overhead(
            features, base.model, train_cfg, device, settings.repeats, settings.train_samples, amp
        ),
        on_part,
    )
    run_part(results, "stages", lambda: bench_stages(settings, device, amp, folder), on_part)
    server = lambda: bench_stages_server(settings, device, amp, folder)  # noqa: E731
    run_part(results, "stages_server", server, on_part)
    run_part(
        results,
        "features_scaling",
        lambda: bench_features_scaling(
            settings.scaling_tickers,
            settings.scaling_days,
            settings.long_repeats,
            settings.seed,
            base.features,
        ),
        on_part,
    )
    run_part(
        results,
        "inference",
        lambda: {
            "inference": bench_inference(features, prices, base.model, settings, folder / "run")
        },
        on_part,
    )
    results["machine"]["load_average_at_end"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )
    return results


def _pairs(ratio: dict[str, Any], digits: int) -> str:
    """How a ratio was taken: its statistic, over how many pairs, and the ratio of the minimums."""
    said = f"{ratio['statistic']}, n={len(ratio['paired_ratios'])}"
    if ratio["statistic"] == RATIO_STATISTIC:
        said += f"; ratio of minimums {ratio['ratio_of_minimums']:.{digits}f}"
    return said


def _ratio_row(
    figure: str, ratio: dict[str, Any], digits: int, target: str, measured: str
) -> tuple[str, str, str, str]:
    return figure, format_ratio(ratio, digits), target, f"{measured}; {_pairs(ratio, digits)}"


def part_rows(results: dict[str, Any], part: str) -> list[tuple[str, str, str, str]]:
    """The table's rows for one part: figure, value [spread], target, what was measured."""
    if part in results["errors"]:
        return [(part, "failed", "", results["errors"][part]["error"])]
    ratios = results["ratios"]
    if part == "data_path":
        d = results["data_path"]
        measured = (
            f"tutorial {d['tutorial_s']:.4f} s / pipeline {d['pipeline_s']:.4f} s per epoch, "
            f"medians ({d['windows']} windows, batch {d['batch_size']})"
        )
        return [_ratio_row("data_path_speedup", ratios["data_path_speedup"], 1, "> 10", measured)]
    if part == "train_epoch":
        t = results["train_epoch"]
        measured = (
            f"train_epoch {t['pipeline_s']:.3f} s / bare loop {t['bare_s']:.3f} s per epoch, "
            f"medians (same losses: {t['same_losses']})"
        )
        ratio = ratios["train_overhead_ratio"]
        return [_ratio_row("train_overhead_ratio", ratio, 3, "<= 1.10", measured)]
    if part == "stages":
        r, s = results["stage_run"], results["stage_seconds"]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in s.items())
        measured = (
            f"medians: mlflow {s['mlflow']:.2f} s of {r['total_s']:.2f} s; "
            f"{r['logging_share_new_process']:.3f} with its import ({r['mlflow_import_s']:.2f} s), "
            f"{r['logging_share_first_run']:.3f} with a new store too ({r['store_create_s']:.2f} s)"
        )
        return [
            _ratio_row("logging_share", ratios["logging_share"], 3, "<= 0.25", measured),
            (
                "stage_seconds",
                f"{r['total_s']:.2f}",
                "",
                f"{stages} ({','.join(r['tickers'])}; epochs {r['epochs_run']})",
            ),
        ]
    if part == "stages_server":
        r, s = results["server_stage_run"], results["server_stage_seconds"]
        measured = (
            f"against the tracking server (PostgreSQL), medians: mlflow {s['mlflow']:.2f} s of "
            f"{r['total_s']:.2f} s; {r['request_ms']:.1f} ms a request (kept-alive connection)"
        )
        ratio = ratios["server_logging_share"]
        return [_ratio_row("server_logging_share", ratio, 3, "<= 0.10", measured)]
    if part == "features_scaling":
        f = results["features_scaling"]
        sizes = "; ".join(
            f"{n}: {v['seconds']:.2f} s, {v['peak_mib']:.1f} MiB"
            for n, v in f["by_tickers"].items()
        )
        measured = (
            f"time growth; tickers of {f['days']} days: {sizes}; memory growth "
            f"{f['memory_growth']:.2f}; windows are views: {f['windows_are_views']}"
        )
        ratio = ratios["features_scaling"]
        return [_ratio_row("features_scaling", ratio, 2, "~1 (linear)", measured)]
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


def format_table(results: dict[str, Any]) -> str:
    """The figures as a plain-text table, one line each, with what was compared."""
    rows = [
        row for part in PARTS if part in results["part_seconds"] for row in part_rows(results, part)
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(3)]
    m = results["machine"]
    header = f"{m['cpu']}, {m['cores']} cores, torch {m['torch']}, device {m['device']}"
    if m["gpu"]:
        header += f" ({m['gpu']})"
    lines = [header, "ratios and shares: the median over the paired runs [lowest-highest run]"]
    for row in rows:
        cells = [row[c].ljust(widths[c]) for c in range(3)]
        lines.append("  ".join([*cells, row[3]]))
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description="Benchmark the pipeline against baselines."
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA if present"
    )
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    parser.add_argument(
        "--repeats", type=int, help=f"timed repeats per figure (default {BenchConfig.repeats})"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> BenchConfig:
    """The benchmark sizes the options ask for, or ConfigError."""
    for name in ("repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name} must be at least 1, not {value}")
    settings = BenchConfig.quick() if args.quick else BenchConfig()
    if args.repeats is not None:
        settings = dataclasses.replace(settings, repeats=args.repeats)
    return settings


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, writing the JSON and printing its rows as each part ends."""
    args = parse_args(argv)
    out = args.out.resolve()  # before the benchmarks change the working folder for MLflow
    threads = torch.get_num_threads()

    def write_part(results: dict[str, Any], part: str) -> None:
        storage.write_text(out, json.dumps(results, indent=2) + "\n")
        for row in part_rows(results, part):
            print(f"[{part}, {results['part_seconds'][part]:.0f} s] " + "  ".join(row), flush=True)

    try:
        settings = settings_from_args(args)
        device = pick_device(args.device)
        if args.threads:
            torch.set_num_threads(args.threads)
        with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as tmp:
            results = run_benchmarks(settings, device, args.amp, Path(tmp), write_part)
        storage.write_text(out, json.dumps(results, indent=2) + "\n")
    except StockcastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        torch.set_num_threads(threads)  # leave the process as it was (tests call main)
    print()
    print(format_table(results))
    print(f"wrote {out}")
    for part, failure in results["errors"].items():
        print(f"error: {part}: {failure['error']}", file=sys.stderr)
    failures = list(results["errors"].values())
    return failures[0]["exit_code"] if failures else 0


if __name__ == "__main__":
    sys.exit(main())
