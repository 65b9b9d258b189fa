"""``train_overhead_ratio``: one epoch of ``training.train_epoch`` over a bare loop on windows
already materialised in one tensor; same model, seed, batch order, optimiser and clipping, so
both loops compute the same losses."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmarks.harness import Bench, Row, paired_ratios, ratio_row, summary, time_jobs
from pipeline.config import ModelConfig, TrainConfig
from pipeline.core.features import N_FEATURES, Features
from pipeline.core.network import StockRNN
from pipeline.models.training import DeviceData, seed_everything, train_epoch


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
    detail = summary(times, windows=len(ends), batch_size=bs, amp=amp, same_losses=same_losses)
    ratio = paired_ratios(times["pipeline"], times["bare"])
    return {
        "train_overhead_ratio": ratio["value"],
        "train_epoch": detail,
        "ratios": {"train_overhead_ratio": ratio},
    }


def measure(bench: Bench) -> dict[str, Any]:
    """This part's figures, at ``bench``'s sizes."""
    s = bench.settings
    train_cfg = dataclasses.replace(bench.base.train, seed=s.seed)
    return bench_train_overhead(
        bench.features, bench.base.model, train_cfg, bench.device, s.repeats, s.train_samples,
        bench.amp,
    )  # fmt: skip


def rows(results: dict[str, Any]) -> list[Row]:
    """This part's lines of the table."""
    t = results["train_epoch"]
    measured = (
        f"train_epoch {t['pipeline_s']:.3f} s / bare loop {t['bare_s']:.3f} s per epoch, "
        f"medians (same losses: {t['same_losses']})"
    )
    ratio = results["ratios"]["train_overhead_ratio"]
    return [ratio_row("train_overhead_ratio", ratio, 3, "<= 1.10", measured)]
