"""``data_path_speedup``: one epoch of batches the tutorial's way (a Dataset slicing one
window per item, through a DataLoader) over the pipeline's way (``DeviceData``: windows
gathered by index from a strided view), on the same windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import MinMaxScaler
from torch.utils.data import DataLoader, Dataset

from benchmarks.harness import Bench, Row, paired_ratios, ratio_row, summary, time_jobs
from pipeline.core.features import CLOSE, Features
from pipeline.data.validate import PRICE_COLUMNS
from pipeline.models.training import DeviceData


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
    detail = summary(times, windows=len(ends), batch_size=batch_size)
    ratio = paired_ratios(times["tutorial"], times["pipeline"])
    return {
        "data_path_speedup": ratio["value"],
        "data_path": detail,
        "ratios": {"data_path_speedup": ratio},
    }


def measure(bench: Bench) -> dict[str, Any]:
    """This part's figures, at ``bench``'s sizes."""
    s = bench.settings
    batch_size = bench.base.train.batch_size
    return bench_data_path(
        bench.features, bench.prices, batch_size, bench.device, s.repeats, s.seed, s.train_samples
    )


def rows(results: dict[str, Any]) -> list[Row]:
    """This part's lines of the table."""
    d = results["data_path"]
    measured = (
        f"tutorial {d['tutorial_s']:.4f} s / pipeline {d['pipeline_s']:.4f} s per epoch, "
        f"medians ({d['windows']} windows, batch {d['batch_size']})"
    )
    ratio = results["ratios"]["data_path_speedup"]
    return [ratio_row("data_path_speedup", ratio, 1, "> 10", measured)]
