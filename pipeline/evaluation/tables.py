"""Every model's bands for the same days as one frame, and the interval table that scores it.

Columns ``<model>_median``, ``<model>_lower_90``, ``<model>_upper_90``, ...;
frames concatenate across folds, so fold and pooled tables are scored by the
same function.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.core.bands import Bands, level_name
from pipeline.metrics.dm import diebold_mariano_losses
from pipeline.metrics.intervals import (
    coverage,
    interval_score,
    mean_width,
    mean_width_pct,
    pinball_loss,
)

REFERENCE = "rnn"  # the model every other model is tested against


def band_frame(bands: dict[str, Bands], dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Every model's bands as one frame indexed by target date."""
    columns: dict[str, np.ndarray] = {}
    for name, b in bands.items():
        columns[f"{name}_median"] = b.median
        for j, level in enumerate(b.levels):
            columns[f"{name}_lower_{level_name(level)}"] = b.lower[:, j]
            columns[f"{name}_upper_{level_name(level)}"] = b.upper[:, j]
    return pd.DataFrame(columns, index=pd.DatetimeIndex(dates, name="Date"))


def frame_models(frame: pd.DataFrame) -> list[str]:
    """The models in a band frame, in column order."""
    return [c.removesuffix("_median") for c in frame.columns if c.endswith("_median")]


def daily_interval_scores(
    actual: np.ndarray, frame: pd.DataFrame, model: str, level: float
) -> np.ndarray:
    """Per-day interval score of one model's ``level`` interval."""
    p = level_name(level)
    return interval_score(
        actual,
        frame[f"{model}_lower_{p}"].to_numpy(),
        frame[f"{model}_upper_{p}"].to_numpy(),
        level,
    )


def daily_pinball(
    actual: np.ndarray, frame: pd.DataFrame, model: str, levels: Sequence[float]
) -> np.ndarray:
    """Per-day pinball loss averaged over the median and every bound's quantile level."""
    losses = [pinball_loss(actual, frame[f"{model}_median"].to_numpy(), 0.5)]
    for level in levels:
        p, tail = level_name(level), (1.0 - level) / 2
        losses.append(pinball_loss(actual, frame[f"{model}_lower_{p}"].to_numpy(), tail))
        losses.append(pinball_loss(actual, frame[f"{model}_upper_{p}"].to_numpy(), 1.0 - tail))
    return np.mean(losses, axis=0)


def interval_table(
    actual: np.ndarray, previous: np.ndarray, frame: pd.DataFrame, levels: Sequence[float]
) -> pd.DataFrame:
    """Coverage, width (price and % of Close), interval score and pinball loss per model.

    With the reference model (the RNN) in the frame, each other row also gets
    the Diebold–Mariano test (HLN) of the RNN's per-day interval score against
    that model's: a negative statistic means the RNN's intervals score better.
    """
    actual, previous = np.asarray(actual, dtype=float), np.asarray(previous, dtype=float)
    models = frame_models(frame)
    rows = {}
    for model in models:
        row: dict[str, float] = {}
        for level in levels:
            p = level_name(level)
            lower, upper = frame[f"{model}_lower_{p}"], frame[f"{model}_upper_{p}"]
            row[f"coverage_{p}"] = coverage(actual, lower, upper)
            row[f"width_{p}"] = mean_width(lower, upper)
            row[f"width_pct_{p}"] = mean_width_pct(lower, upper, previous)
            row[f"interval_score_{p}"] = float(
                np.mean(daily_interval_scores(actual, frame, model, level))
            )
        row["pinball"] = float(np.mean(daily_pinball(actual, frame, model, levels)))
        for level in levels:
            row |= _dm_columns(actual, frame, model, level, REFERENCE in models)
        rows[model] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _dm_columns(
    actual: np.ndarray, frame: pd.DataFrame, model: str, level: float, has_reference: bool
) -> dict[str, float]:
    p = level_name(level)
    if not has_reference or model == REFERENCE or len(actual) < 2:
        return {f"dm_stat_{p}": np.nan, f"dm_pvalue_{p}": np.nan}
    dm = diebold_mariano_losses(
        daily_interval_scores(actual, frame, REFERENCE, level),
        daily_interval_scores(actual, frame, model, level),
    )
    return {f"dm_stat_{p}": dm.statistic, f"dm_pvalue_{p}": dm.pvalue}
