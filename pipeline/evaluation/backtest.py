"""Walk-forward backtest: K expanding-window folds, every model on the same days.

The last ``test_share`` of the days is cut into ``folds`` consecutive blocks of
target days. For each fold, everything before its first test day is history:
its last ``val_frac`` (by target day) is the validation part used for early
stopping and for the models' few choices, the rest is training. The scalers
and every model are fitted on that fold's training samples only. Test blocks
do not overlap, and all models forecast exactly the same target days.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.config import BacktestConfig, FeatureConfig
from pipeline.core.bands import Bands, level_name
from pipeline.core.features import Features, features_for_split
from pipeline.core.splits import (
    CalendarFold,
    Split,
    calendar_splits,
    check_calendar_sizes,
    check_sizes,
    min_backtest_days,
    walk_forward_splits,
)
from pipeline.evaluation.evaluate import evaluate
from pipeline.evaluation.horizons import fold_horizons, horizon_rows
from pipeline.evaluation.tables import frame_models, interval_table
from pipeline.metrics.dm import diebold_mariano
from pipeline.metrics.point import METRICS, score
from pipeline.models.base import Forecaster, IntervalForecaster
from pipeline.models.rnn import RNN


@dataclass(frozen=True)
class FoldResult:
    fold: int  # 1-based
    features: Features  # this fold's split and scalers
    table: pd.DataFrame  # models x METRICS on this fold's test days
    forecasts: pd.DataFrame  # index: target dates; actual, previous, one column per model
    intervals: pd.DataFrame | None = None  # interval models x interval scores (bands.py)
    bands: pd.DataFrame | None = None  # index: target dates; every interval model's bands
    levels: tuple[float, ...] = ()  # the bands' interval levels
    # Per horizon h = 1..H: every model's h-day forecasts (``evaluation.horizons``).
    horizons: dict[int, pd.DataFrame] = field(default_factory=dict)


def check_backtest_history(
    n_days: int, window: int, cfg: BacktestConfig, ticker: str
) -> list[Split]:
    """Every fold's split, or DataError unless each part of each fold has a few samples."""
    splits = walk_forward_splits(n_days, window, cfg)
    check_sizes(
        splits,
        f"{ticker}: {n_days} days of prices is too little history for a {cfg.folds}-fold "
        f"backtest with a {window}-day window; at least "
        f"{min_backtest_days(window, cfg)} days are needed",
    )
    return splits


def run_fold(
    prices: pd.DataFrame,
    split: Split,
    window: int,
    models: list[Forecaster | IntervalForecaster],
    fold: int,
    horizon: int = 1,
) -> FoldResult:
    """Fit the scalers and every model on the fold's history; forecast its test days.

    Models are fitted in list order (an ``AdaptiveRNN`` after its RNN); a point
    model gives forecasts, an interval model bands, the RNN both; and each
    model that can, its forecasts 1..``horizon`` days ahead.
    """
    return fold_result(features_for_split(prices, split, window, horizon), models, fold)


def fold_result(
    features: Features, models: list[Forecaster | IntervalForecaster], fold: int
) -> FoldResult:
    """Fit every model on ``features``' history (in list order); forecast its test days."""
    split = features.split
    forecasts: dict[str, np.ndarray] = {}
    bands: dict[str, Bands] = {}
    for model in models:
        model.fit(features)
        if hasattr(model, "predict"):
            forecasts[model.name] = model.predict(features, split.test)
        if isinstance(model, IntervalForecaster):
            found = model.bands(features, split.test)
            if found is not None:
                bands[model.name] = found
    ev = evaluate(features, forecasts, split.test, bands)
    levels = next(iter(bands.values())).levels if bands else ()
    horizons = fold_horizons(features, models, {**forecasts, **bands})
    return FoldResult(
        fold, features, ev.table, ev.forecasts, ev.intervals, ev.bands, levels, horizons
    )


def pooled_table(results: list[FoldResult]) -> pd.DataFrame:
    """Metrics over all folds' test days together, and the DM test of the RNN against each model."""
    forecasts = pd.concat([r.forecasts for r in results])
    models = [c for c in forecasts.columns if c not in ("actual", "previous")]
    actual, previous = forecasts["actual"].to_numpy(), forecasts["previous"].to_numpy()
    rows = {}
    rnn_errors = forecasts[RNN].to_numpy() - actual if RNN in models else None
    for name in models:
        row = score(actual, forecasts[name].to_numpy(), previous)
        if rnn_errors is not None and name != RNN:
            dm = diebold_mariano(rnn_errors, forecasts[name].to_numpy() - actual)
            row |= {"dm_stat": dm.statistic, "dm_pvalue": dm.pvalue}
        else:
            row |= {"dm_stat": np.nan, "dm_pvalue": np.nan}
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")[[*METRICS, "dm_stat", "dm_pvalue"]]


def pooled_interval_table(results: list[FoldResult]) -> pd.DataFrame | None:
    """Interval scores over all folds' test days together, with DM tests against the RNN."""
    if any(r.bands is None for r in results):
        return None
    frame = pd.concat([r.bands for r in results])
    forecasts = pd.concat([r.forecasts for r in results])
    return interval_table(forecasts["actual"], forecasts["previous"], frame, results[0].levels)


def forecast_rows(ticker: str, results: list[FoldResult]) -> pd.DataFrame:
    """Every model's forecast for every test day, long: one row per ticker, fold, horizon,
    date, model.

    Columns ``ticker, fold, horizon, date`` (the target day), ``as_of`` (the day
    the forecast was made), ``model, close`` (the realised Close), ``previous``
    (the Close the forecast was made on), ``median`` and per level ``lower_90``,
    ``upper_90``, ...; a point model's bounds are empty. Horizon 1 holds every
    model, the later horizons those that forecast them. From these rows alone
    any score of the backtest can be recomputed.
    """
    bounds = [f"{side}_{level_name(x)}" for x in results[0].levels for side in ("lower", "upper")]
    columns = ["median", *bounds]
    parts = []
    for r in results:
        frame = r.forecasts.rename(columns={"actual": "close"})
        interval_models = frame_models(r.bands) if r.bands is not None else []
        points = [c for c in frame.columns if c not in ("close", "previous", *interval_models)]
        for model in [*interval_models, *points]:
            if model in interval_models:
                own = r.bands[[f"{model}_{c}" for c in columns]]
                own.columns = columns
            else:
                own = frame[[model]].set_axis(["median"], axis=1)
            rows = frame[["close", "previous"]].join(own)
            rows.insert(0, "model", model)
            rows.insert(0, "as_of", r.features.dates[r.features.split.test])
            rows.insert(0, "horizon", 1)
            rows.insert(0, "fold", r.fold)
            rows.insert(0, "ticker", ticker)
            parts.append(rows.rename_axis("date").reset_index())
        later = horizon_rows({h: f for h, f in r.horizons.items() if h > 1}, r.levels)
        if len(later):
            later.insert(0, "fold", r.fold)
            later.insert(0, "ticker", ticker)
            parts.append(later)
    order = ["ticker", "fold", "horizon", "date", "as_of", "model", "close", "previous", *columns]
    return pd.concat(parts, ignore_index=True).reindex(columns=order)


def fold_errors(results: list[FoldResult]) -> pd.DataFrame:
    """RMSE of each model per fold (folds as rows)."""
    return pd.DataFrame({r.fold: r.table["rmse"] for r in results}).T.rename_axis("fold")


def backtest(
    prices: pd.DataFrame,
    features_cfg: FeatureConfig,
    cfg: BacktestConfig,
    make_models: Callable[[int], list[Forecaster]],
    ticker: str = "",
    fold_scope: Callable[[int], contextlib.AbstractContextManager] | None = None,
    on_fold: Callable[[FoldResult], None] | None = None,
) -> list[FoldResult]:
    """Run every fold; ``make_models(fold)`` gives fresh, unfitted models for each.

    ``fold_scope(fold)`` wraps each fold (an MLflow nested run, say) and
    ``on_fold`` sees each result inside it.
    """
    window = features_cfg.window
    splits = check_backtest_history(len(prices), window, cfg, ticker or "prices")
    results = []
    for fold, split in enumerate(splits, start=1):
        with fold_scope(fold) if fold_scope else contextlib.nullcontext():
            models = make_models(fold)
            result = run_fold(prices, split, window, models, fold, features_cfg.horizon)
            if on_fold:
                on_fold(result)
        results.append(result)
    return results


def check_calendar_history(
    prices: Mapping[str, pd.DataFrame], window: int, cfg: BacktestConfig
) -> list[CalendarFold]:
    """The universe's folds cut by calendar date, or DataError naming a ticker too short."""
    folds = calendar_splits({t: pd.DatetimeIndex(p.index) for t, p in prices.items()}, window, cfg)
    check_calendar_sizes(folds, window)
    return folds


def calendar_backtest(
    prices: Mapping[str, pd.DataFrame],
    features_cfg: FeatureConfig,
    cfg: BacktestConfig,
    make_models: Callable[[int, Mapping[str, Features]], Mapping[str, list]],
) -> dict[str, list[FoldResult]]:
    """Every ticker's folds cut by the same calendar dates (a global model's backtest).

    ``make_models(fold, features)`` sees every ticker's features for the fold
    (each fitted on that ticker's history only) and gives each ticker's fresh
    models: that is where a network shared by the universe is trained, on
    targets that all lie before the fold's first test date.
    """
    window = features_cfg.window
    results: dict[str, list[FoldResult]] = {ticker: [] for ticker in prices}
    for fold, cut in enumerate(check_calendar_history(prices, window, cfg), start=1):
        features = {
            ticker: features_for_split(frame, cut.splits[ticker], window, features_cfg.horizon)
            for ticker, frame in prices.items()
        }
        models = make_models(fold, features)
        for ticker in prices:
            results[ticker].append(fold_result(features[ticker], models[ticker], fold))
    return results
