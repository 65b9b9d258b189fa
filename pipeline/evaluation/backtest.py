"""Walk-forward backtest: K expanding-window folds, every model on the same days.

The last ``test_share`` of the days is cut into ``folds`` consecutive blocks of
target days. For each fold, everything before its first test day is history:
its last ``val_frac`` (by target day) is the validation part used for early
stopping and for the models' few choices, the rest is training. The scalers
and every model are fitted on that fold's training samples only. Test blocks
do not overlap, and all models forecast exactly the same target days.

A group of tickers (one ticker, or a universe) is cut by calendar date
(``core.splits.calendar_splits``): the days are the union of the tickers'
trading days, and no ticker's training target lies on or after the fold's
first test date, so a network shared by the group may train on all of them.
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
from pipeline.core.splits import calendar_splits
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
    prices: Mapping[str, pd.DataFrame],
    features_cfg: FeatureConfig,
    cfg: BacktestConfig,
    make_models: Callable[[int, Mapping[str, Features]], Mapping[str, list]],
    fold_scope: Callable[[int], contextlib.AbstractContextManager] | None = None,
    on_fold: Callable[[str, FoldResult], None] | None = None,
) -> dict[str, list[FoldResult]]:
    """Every ticker's folds, cut by the same calendar dates; DataError for a ticker short
    of history.

    ``make_models(fold, features)`` sees every ticker's features for the fold
    (each fitted on that ticker's history only) and gives each ticker's fresh,
    unfitted models: that is where a network shared by the group is trained, on
    targets that all lie before the fold's first test date. ``fold_scope(fold)``
    wraps each fold (an MLflow run, say) and ``on_fold(ticker, result)`` sees each
    ticker's result inside it.
    """
    window = features_cfg.window
    dates = {ticker: pd.DatetimeIndex(frame.index) for ticker, frame in prices.items()}
    results: dict[str, list[FoldResult]] = {ticker: [] for ticker in prices}
    for fold, cut in enumerate(calendar_splits(dates, window, cfg), start=1):
        with fold_scope(fold) if fold_scope else contextlib.nullcontext():
            features = {
                ticker: features_for_split(frame, cut.splits[ticker], window, features_cfg.horizon)
                for ticker, frame in prices.items()
            }
            models = make_models(fold, features)
            for ticker in prices:
                result = fold_result(features[ticker], models[ticker], fold)
                results[ticker].append(result)
                if on_fold:
                    on_fold(ticker, result)
    return results
