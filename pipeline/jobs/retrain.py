"""The ``retrain`` job for one group: a challenger against the group's champion on recent days.

The group is cut by calendar date: the last ``holdout`` sessions of the union
of its tickers' trading days are every ticker's holdout, and the validation
part is the end of the history before them (``holdout_cut`` on the union
calendar, so a ticker's own group gets exactly its own days' retrain split).
One challenger is trained on every ticker's training windows and calibrated on
each ticker's own validation days; the holdout is neither trained nor
calibrated on.

Challenger and champion (``stockcast-<GROUP>@champion``) forecast the same
holdout days of every ticker, each with the ticker's own multipliers (the
champion's pooled ones for a ticker it was not calibrated on). The promotion
rule (``evaluation.promotion``: strictly lower wins, no champion promotes) compares
the **mean over the group's tickers of the holdout Theil's U** (RMSE over
persistence's RMSE on the same days): within one ticker it orders the two
models exactly as RMSE does, and averaging it gives every ticker the same
weight, where a pooled RMSE in price units would let the highest-priced ticker
decide.

First the champion is judged for drift on each ticker's stored forecasts of
its version (``tracking.drift.check_drift``); the verdicts are tagged on the run and
printed, and it drifted when it drifted on any ticker. With ``--retrain-when
drift`` a champion that drifted on no ticker is kept without training (a run
tagged ``decision=skip``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.core.bands import level_name
from pipeline.core.features import features_for_split
from pipeline.core.splits import calendar_holdout_split, union_calendar
from pipeline.data.sources import source_uri
from pipeline.errors import DataError
from pipeline.evaluation.live import Drift
from pipeline.evaluation.promotion import DECIDED_ON, decide, pool
from pipeline.jobs import stages
from pipeline.jobs.calibrate import own_calibration
from pipeline.metrics.intervals import coverage, interval_score
from pipeline.metrics.point import score
from pipeline.runtime.common import Group, Summary
from pipeline.serving.forecaster import Forecaster
from pipeline.store.forecasts import ForecastStore
from pipeline.tracking import lifecycle, promotion, registry, retrain_log, train_log
from pipeline.tracking.drift import check_drift
from pipeline.tracking.group_runs import GroupRuns
from pipeline.tracking.models import log_model


def run_retrain(
    cfg: Config,
    group: Group,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Train a challenger, score it and the champion on every ticker's holdout days,
    register it and promote it if its mean Theil's U is strictly lower."""
    runs = GroupRuns(
        cfg, group.name, group.tickers, group.label, experiment_id, "retrain", "retrain",
        dict(tags or {}),
    )  # fmt: skip
    old = registry.champion_version(group.name)
    drifts = judge_drift(cfg, group.name, group.tickers, old)
    if cfg.retrain.when == "drift" and drifts is not None and not _fired(drifts):
        return _skip(runs, drifts, old)
    prices, holdout, window = group.prices, cfg.retrain.holdout, cfg.features.window
    dates = {t: p.index for t, p in prices.items()}
    splits = calendar_holdout_split(dates, window, holdout, cfg.features.val_frac).splits
    features = {
        t: features_for_split(prices[t], splits[t], window, cfg.features.horizon)
        for t in group.tickers
    }
    calendar = union_calendar(dates)
    holdout_from, holdout_to = calendar[-holdout], calendar[-1]
    with runs.group(**drift_tags(drifts)) as active:
        run_id = active.info.run_id
        lifecycle.log_tags(
            {
                "data_from": str(calendar[0].date()),
                "data_to": str(holdout_to.date()),
                "holdout_from": str(holdout_from.date()),
                "holdout_to": str(holdout_to.date()),
            }
        )
        trained_to = str(calendar[-holdout - 1].date())
        meta = {"ticker": group.name, "run_id": run_id, "trained_to": trained_to}
        challenger = stages.train_model(cfg, group.name, features, meta).forecaster
        champion = registry.load_champion(group.name).forecaster if old is not None else None
        scores = {
            t: holdout_scores(challenger, champion, prices[t], splits[t].test, t)
            for t in group.tickers
        }
        pooled = {
            who: pool({t: scores[t][who] for t in group.tickers})
            for who in scores[group.tickers[0]]
        }
        decision = decide(
            pooled["challenger"][DECIDED_ON], pooled.get("champion", {}).get(DECIDED_ON)
        )
        for ticker in group.tickers:
            ends, day = splits[ticker].test, prices[ticker].index
            with runs.ticker(
                ticker,
                champion_calibration=_calibration(champion, ticker),
                holdout_from=str(day[ends[0] + 1].date()),
                holdout_to=str(day[ends[-1] + 1].date()),
            ):
                train_log.log_dataset(prices[ticker], ticker, source_uri(cfg.data, ticker))
                retrain_log.log_holdout_scores(scores[ticker])
        retrain_log.log_retrain(pooled, decision, old)
        # The model is logged with the example rows of the group's first ticker.
        model_uri = log_model(challenger, prices[group.tickers[0]].iloc[-window:]).model_uri
        version = promotion.register(
            model_uri, group.name, run_id, "retrain", decision, task_id=runs.tags.get("task_id"),
            holdout_theil_u=f"{pooled['challenger'][DECIDED_ON]:.6f}",
        )  # fmt: skip
    summaries = [Summary(t, _ticker_text(t, scores[t], drifts), run_id) for t in group.tickers]
    verb = "promoted" if decision.promote else "kept the champion"
    now = version if decision.promote else old
    text = (
        f"{group.name}: {verb} ({decision.reason}); challenger is version {version}, champion "
        f"is version {now}; holdout {holdout_from.date()} to {holdout_to.date()}"
    )
    facts = {"promoted": decision.promote, "version": version, "pooled": pooled, "drift": drifts}
    summaries.append(Summary(group.name, text, run_id, facts=facts))
    return summaries


def holdout_scores(
    challenger: Forecaster,
    champion: Forecaster | None,
    prices: pd.DataFrame,
    ends: np.ndarray,
    ticker: str,
) -> dict[str, dict[str, float]]:
    """Challenger's, champion's (if any) and persistence's scores on a ticker's holdout."""
    close = prices["Close"].to_numpy()
    scores = {"challenger": score_holdout(own_calibration(challenger, ticker), prices, ends)}
    if champion is not None:
        scores["champion"] = score_holdout(own_calibration(champion, ticker), prices, ends)
    scores["persistence"] = score(close[ends + 1], close[ends], close[ends])
    return scores


def score_holdout(forecaster: Forecaster, prices: pd.DataFrame, ends: np.ndarray) -> dict:
    """Point scores (and each level's coverage and interval score) of the next-day forecasts
    made on the end days ``ends`` (consecutive day indices)."""
    start = int(ends[0]) - forecaster.window + 1
    if start < 0:
        raise DataError(
            f"too little history before the holdout for a {forecaster.window}-day window"
        )
    close = prices["Close"].to_numpy()
    actual, previous = close[ends + 1], close[ends]
    rows = prices.iloc[start : int(ends[-1]) + 1]
    if forecaster.multipliers is None:  # a point-only model
        return score(actual, forecaster.forecast(rows), previous)
    bands = forecaster.forecast_bands(rows)
    scores = score(actual, bands.median, previous)
    for k, level in enumerate(bands.levels):
        lower, upper = bands.lower[:, k], bands.upper[:, k]
        scores[f"coverage_{level_name(level)}"] = coverage(actual, lower, upper)
        scores[f"interval_score_{level_name(level)}"] = float(
            np.mean(interval_score(actual, lower, upper, level))
        )
    return scores


def judge_drift(
    cfg: Config, name: str, tickers: tuple[str, ...], version: str | None
) -> dict[str, Drift] | None:
    """The champion ``version``'s drift verdict on each ticker's stored forecasts; None
    without a champion."""
    if version is None:
        return None
    with ForecastStore(cfg.store.url) as store:
        return {t: check_drift(cfg, t, version, store, model=name) for t in tickers}


def _calibration(champion: Forecaster | None, ticker: str) -> str:
    """Whose calibration scored the champion on ``ticker``: its own, or the pooled one."""
    if champion is None or ticker in champion.calibrations:
        return "own"
    return "own" if champion.meta.get("ticker") == ticker else "pooled"


def _fired(drifts: Mapping[str, Drift]) -> bool:
    return any(d.fired for d in drifts.values())


def drift_tags(drifts: Mapping[str, Drift] | None) -> dict[str, str]:
    """The run's tags of the verdicts: drift (on any ticker) and the tickers it fired on."""
    if drifts is None:
        return {}
    fired = [t for t, d in drifts.items() if d.fired]
    reason = "; ".join(f"{t}: {drifts[t].reason}" for t in fired) or "no ticker drifted"
    return {"drift": str(bool(fired)).lower(), "drift_reason": reason[:5000]}


def _skip(runs: GroupRuns, drifts: Mapping[str, Drift], old: str) -> list[Summary]:
    """Keep the champion without training: it drifted on no ticker (a run says so)."""
    tags = {**drift_tags(drifts), "decision": "skip", "champion_before": old}
    with runs.group(**tags) as active:
        run_id = active.info.run_id
    summaries = [Summary(t, _drift_text(t, d), run_id) for t, d in drifts.items()]
    text = f"{runs.name}: kept the champion (version {old}) without retraining: no ticker drifted"
    summaries.append(
        Summary(runs.name, text, run_id, facts={"promoted": False, "drift": dict(drifts)})
    )
    return summaries


def _drift_text(ticker: str, drift: Drift) -> str:
    return f"{ticker}: drift {'fired' if drift.fired else 'not fired'}: {drift.reason}"


def _ticker_text(
    ticker: str,
    scores: Mapping[str, Mapping[str, float]],
    drifts: Mapping[str, Drift] | None = None,
) -> str:
    """One line of a ticker's holdout scores: each model's RMSE and Theil's U; then its drift
    verdict, if the champion was judged."""
    parts = [
        f"{who} RMSE {row['rmse']:.4f} (U {row['theil_u']:.3f})"
        for who, row in scores.items()
        if who != "persistence"
    ]
    text = f"{ticker}: holdout " + ", ".join(parts)
    if drifts is not None:
        text += "\n" + _drift_text(ticker, drifts[ticker])
    return text
