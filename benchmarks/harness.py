"""What every benchmark of ``python -m benchmarks.bench`` shares: sizes and repeats, timing in
turns, paired ratios, the MLflow store a run logs to, the JSON and the printed table.

A benchmark is a module with ``measure(bench) -> dict`` (its figures, and under ``ratios``
how each ratio was taken) and ``rows(results) -> list[Row]`` (its lines of the table).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import torch

from pipeline import storage
from pipeline.config import Config
from pipeline.core.features import Features
from pipeline.errors import StockcastError

Row = tuple[str, str, str, str]  # figure, value [spread], target, what was measured


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


@dataclass(frozen=True)
class Bench:
    """What a benchmark is given: its sizes, where to run, the sample ticker's data."""

    settings: BenchConfig
    device: torch.device
    amp: bool  # bfloat16 autocast on CUDA
    folder: Path  # a scratch folder of the whole run
    base: Config  # the default config
    prices: pd.DataFrame  # the sample ticker's prices
    features: Features  # and their features under the default config


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


def median(values: list[float]) -> float:
    """The median, as a plain float for JSON."""
    return float(statistics.median(values))


def summary(times: dict[str, list[float]], **extra: Any) -> dict[str, Any]:
    """Median seconds of each job (as ``<job>_s``), every repeat, and ``extra``."""
    return {**{f"{job}_s": median(t) for job, t in times.items()}, "repeats_s": times, **extra}


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
        "value": median(ratios),
        "statistic": statistic,
        "min": min(ratios),
        "max": max(ratios),
        "ratio_of_minimums": min(numerator) / min(denominator),
        "ratio_of_medians": median(numerator) / median(denominator),
        "paired_ratios": ratios,
    }


def format_ratio(ratio: dict[str, Any], digits: int) -> str:
    """``1.03 [0.98-1.05]``: the figure, and the spread of its paired ratios."""
    return f"{ratio['value']:.{digits}f} [{ratio['min']:.{digits}f}-{ratio['max']:.{digits}f}]"


# --------------------------------------------------------------------------- the run


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


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, where the system has them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


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
        "load_average_at_start": load_average(),
    }


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


def write_json(path: Path, results: dict[str, Any]) -> None:
    """The results as indented JSON, written atomically."""
    storage.write_text(path, json.dumps(results, indent=2) + "\n")


# --------------------------------------------------------------------------- the report


def _pairs(ratio: dict[str, Any], digits: int) -> str:
    """How a ratio was taken: its statistic, over how many pairs, and the ratio of the minimums."""
    said = f"{ratio['statistic']}, n={len(ratio['paired_ratios'])}"
    if ratio["statistic"] == RATIO_STATISTIC:
        said += f"; ratio of minimums {ratio['ratio_of_minimums']:.{digits}f}"
    return said


def ratio_row(figure: str, ratio: dict[str, Any], digits: int, target: str, measured: str) -> Row:
    """A ratio's row: its value [spread], its target, and what was measured and how."""
    return figure, format_ratio(ratio, digits), target, f"{measured}; {_pairs(ratio, digits)}"


def part_rows(
    results: dict[str, Any], part: str, rows: Callable[[dict[str, Any]], list[Row]]
) -> list[Row]:
    """A part's rows of the table (``rows``), or one row saying that it failed."""
    if part in results["errors"]:
        return [(part, "failed", "", results["errors"][part]["error"])]
    return rows(results)


def format_table(results: dict[str, Any], rows: list[Row]) -> str:
    """The figures as a plain-text table, one line each, with what was compared."""
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
