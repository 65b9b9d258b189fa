"""``features_scaling``: time and peak memory (tracemalloc) of building features and window
views for synthetic tickers (``pipeline.data.synthetic``), per ticker as the count grows."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.harness import Bench, Row, median, paired_ratios, ratio_row
from pipeline.config import FeatureConfig
from pipeline.core.features import Features, build_features
from pipeline.data.synthetic import synthetic_universe


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
    frames = list(synthetic_universe(max(counts), days, seed).values())
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
        sizes[str(n)] = {"seconds": median(seconds[n]), "peak_mib": peak / 2**20}
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


def measure(bench: Bench) -> dict[str, Any]:
    """This part's figures, at ``bench``'s sizes."""
    s = bench.settings
    return bench_features_scaling(
        s.scaling_tickers, s.scaling_days, s.long_repeats, s.seed, bench.base.features
    )


def rows(results: dict[str, Any]) -> list[Row]:
    """This part's lines of the table."""
    f = results["features_scaling"]
    sizes = "; ".join(
        f"{n}: {v['seconds']:.2f} s, {v['peak_mib']:.1f} MiB" for n, v in f["by_tickers"].items()
    )
    measured = (
        f"time growth; tickers of {f['days']} days: {sizes}; memory growth "
        f"{f['memory_growth']:.2f}; windows are views: {f['windows_are_views']}"
    )
    ratio = results["ratios"]["features_scaling"]
    return [ratio_row("features_scaling", ratio, 2, "~1 (linear)", measured)]
