"""Forecasts 1..H trading days ahead: every model on the same target days at each horizon.

In a fold, horizon ``h`` is scored on the test end days whose h-day target is
itself a test day (``core.features.usable_ends``): the forecast made on day
``t`` for day ``t + h``. Every model forecasts exactly those days, so at each
horizon the rows compare like with like. A model joins in with
``horizon_bands(features, ends, h)`` (the RNN, its ACI variant, the
volatility baselines: a median and bounds) or ``predict_horizon(features,
ends, h)`` (persistence and drift: a median only).

The tables score each model's median by RMSE and its intervals by coverage
and interval score, with the Diebold–Mariano test of the RNN against each
model under the HLN correction for horizon ``h`` (the errors of h-day
forecasts made on consecutive days overlap: an MA(h - 1)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.core.bands import Bands, level_name
from pipeline.core.features import Features, usable_ends
from pipeline.evaluation.tables import REFERENCE, band_frame, daily_interval_scores, frame_models
from pipeline.metrics.dm import diebold_mariano, diebold_mariano_losses
from pipeline.metrics.intervals import coverage, mean_width_pct


def horizon_frame(
    features: Features,
    models: Sequence,
    horizon: int,
    made: Mapping[str, Bands | np.ndarray] | None = None,
) -> pd.DataFrame:
    """Every fitted model's ``horizon``-day forecasts for the fold's test days, one frame.

    Index: target dates; columns ``actual``, ``previous`` (the Close on the day
    the forecast was made), ``as_of`` (that day) and per model ``<model>_median``
    and, for an interval model, ``<model>_lower_90``, ``<model>_upper_90``, ...
    ``made``: forecasts already made for these very days (the fold's next-day
    bands and point forecasts, by model), used instead of making them again.
    """
    ends = usable_ends(features.split.test, horizon)
    made = made or {}
    bands: dict[str, Bands] = {}
    medians: dict[str, np.ndarray] = {}
    for model in models:
        if hasattr(model, "horizon_bands"):
            found = made.get(model.name)
            if not isinstance(found, Bands):
                found = model.horizon_bands(features, ends, horizon)
            if found is not None:
                bands[model.name] = found
                continue
        if hasattr(model, "predict_horizon"):
            found = made.get(model.name)
            if found is None or isinstance(found, Bands):
                found = model.predict_horizon(features, ends, horizon)
            medians[f"{model.name}_median"] = found
    dates = pd.DatetimeIndex(features.dates[ends + horizon], name="Date")
    close = features.close
    frame = pd.DataFrame(
        {"actual": close[ends + horizon], "previous": close[ends], "as_of": features.dates[ends]},
        index=dates,
    )
    return pd.concat([frame, band_frame(bands, dates), pd.DataFrame(medians, index=dates)], axis=1)


def fold_horizons(
    features: Features, models: Sequence, next_day: Mapping[str, Bands | np.ndarray] | None = None
) -> dict[int, pd.DataFrame]:
    """``horizon_frame`` for every horizon 1..H of ``features``; ``next_day``: the models'
    forecasts for the day after each test end day, already made (horizon 1's ``made``)."""
    return {
        h: horizon_frame(features, models, h, next_day if h == 1 else None)
        for h in range(1, features.horizon + 1)
    }


def horizon_table(frame: pd.DataFrame, levels: Sequence[float], horizon: int) -> pd.DataFrame:
    """One horizon's scores per model: RMSE of the median, and per level coverage, width (% of
    the Close) and interval score where the model has bounds; DM tests (HLN, ``horizon``) of the
    RNN against each model on squared errors (``dm_pvalue_rmse``) and interval scores."""
    actual = frame["actual"].to_numpy(dtype=float)
    previous = frame["previous"].to_numpy(dtype=float)
    models = frame_models(frame)
    has_reference = REFERENCE in models and len(actual) > horizon
    reference = frame[f"{REFERENCE}_median"].to_numpy() - actual if has_reference else None
    rows = {}
    for model in models:
        errors = frame[f"{model}_median"].to_numpy(dtype=float) - actual
        row: dict[str, float] = {"horizon": horizon, "rmse": math.sqrt(float(np.mean(errors**2)))}
        row["dm_pvalue_rmse"] = np.nan
        if has_reference and model != REFERENCE:
            row["dm_pvalue_rmse"] = diebold_mariano(reference, errors, horizon).pvalue
        for level in levels:
            p = level_name(level)
            if f"{model}_lower_{p}" not in frame:
                row |= {f"coverage_{p}": np.nan, f"width_pct_{p}": np.nan}
                row |= {f"interval_score_{p}": np.nan, f"dm_pvalue_{p}": np.nan}
                continue
            lower, upper = frame[f"{model}_lower_{p}"], frame[f"{model}_upper_{p}"]
            scores = daily_interval_scores(actual, frame, model, level)
            row[f"coverage_{p}"] = coverage(actual, lower, upper)
            row[f"width_pct_{p}"] = mean_width_pct(lower, upper, previous)
            row[f"interval_score_{p}"] = float(np.mean(scores))
            row[f"dm_pvalue_{p}"] = np.nan
            if has_reference and model != REFERENCE and f"{REFERENCE}_lower_{p}" in frame:
                ours = daily_interval_scores(actual, frame, REFERENCE, level)
                row[f"dm_pvalue_{p}"] = diebold_mariano_losses(ours, scores, horizon).pvalue
        rows[model] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["horizon"] = table["horizon"].astype(int)
    return table


def pooled_horizon_table(
    frames: Sequence[dict[int, pd.DataFrame]], levels: Sequence[float]
) -> pd.DataFrame | None:
    """``horizon_table`` per horizon over every fold's frames together, stacked by horizon
    (index: model; column ``horizon``); None when no fold has horizon frames."""
    if not frames or not all(frames):
        return None
    horizons = sorted(frames[0])
    parts = [horizon_table(pd.concat([f[h] for f in frames]), levels, h) for h in horizons]
    return pd.concat(parts)


def horizon_rows(frames: dict[int, pd.DataFrame], levels: Sequence[float]) -> pd.DataFrame:
    """One fold's horizon frames long: one row per horizon, target date and model.

    Columns ``horizon, date, as_of, model, close, previous, median`` and each
    level's bounds (empty for a median-only model), as the backtest's
    ``backtest_forecasts.csv`` holds them.
    """
    bounds = [f"{side}_{level_name(x)}" for x in levels for side in ("lower", "upper")]
    parts = []
    for h, frame in sorted(frames.items()):
        for model in frame_models(frame):
            own = pd.DataFrame(
                {c: frame.get(f"{model}_{c}", np.nan) for c in ["median", *bounds]},
                index=frame.index,
            )
            rows = frame[["as_of", "actual", "previous"]].rename(columns={"actual": "close"})
            rows = rows.join(own)
            rows.insert(0, "model", model)
            rows.insert(0, "horizon", h)
            parts.append(rows.rename_axis("date").reset_index())
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
