"""The ``retrain --scope global`` job: a global challenger against the global champion.

The universe is cut by calendar date, as ``all --scope global`` cuts it: the
universe's last ``holdout`` sessions (of the union of the tickers' trading
days) are every ticker's holdout, and the validation part is the end of the
history before them (``holdout_split``'s cut, made on the union calendar, so a
ticker traded on every day gets exactly its per-ticker retrain split). One
challenger is trained on every ticker's training windows and calibrated on each
ticker's own validation days; the holdout is neither trained nor calibrated on.

Challenger and champion (``stockcast-global@champion``) forecast the same
holdout days of every ticker, each with the ticker's own multipliers (the
champion's pooled ones for a ticker it was not calibrated on). The promotion
rule is the per-ticker retrain's (``promotion.decide``: strictly lower wins, no
champion promotes) applied to the **mean over tickers of the holdout Theil's
U** (RMSE over persistence's RMSE on the same days). Within one ticker it
orders the two models exactly as RMSE does, and averaging it gives every ticker
the same weight, where a pooled RMSE in price units would let the
highest-priced ticker decide.

First the champion is judged for drift on each ticker's stored forecasts of
its version (``drift.check_drift``; ``forecast --scope global`` stores them):
the verdicts are tagged on the run and printed, and it drifted when it drifted
on any ticker. With ``--retrain-when drift`` a champion that drifted on no
ticker is kept without training (a run tagged ``decision=skip``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.core.bands import level_name
from pipeline.core.features import features_for_split
from pipeline.core.splits import Split, check_sizes, cut_by_date, union_calendar
from pipeline.data.sources import source_uri
from pipeline.errors import DataError
from pipeline.evaluation.live import Drift
from pipeline.jobs import promotion
from pipeline.jobs.common import Summary, tickers_label
from pipeline.jobs.drift import check_drift
from pipeline.jobs.global_model import GLOBAL, fit_universe, ticker_forecaster
from pipeline.metrics.intervals import coverage, interval_score
from pipeline.metrics.point import score
from pipeline.serving.forecaster import Forecaster
from pipeline.store.forecasts import ForecastStore
from pipeline.tracking import lifecycle, registry, retrain_log, train_log
from pipeline.tracking.models import log_model

DECIDED_ON = "theil_u"  # the score the decision compares, averaged over tickers
POOLED = ("theil_u", "mape", "direction_acc")  # scores that do not depend on price levels


def judge_drift(
    cfg: Config, tickers: tuple[str, ...], version: str | None
) -> dict[str, Drift] | None:
    """The global champion ``version``'s drift verdict on each ticker's stored forecasts;
    None without a champion."""
    if version is None:
        return None
    with ForecastStore(cfg.store.url) as store:
        return {t: check_drift(cfg, t, version, store, model=GLOBAL) for t in tickers}


def drift_tags(drifts: Mapping[str, Drift] | None) -> dict[str, str]:
    """The run's tags of the verdicts: drift (on any ticker) and the tickers it fired on."""
    if drifts is None:
        return {}
    fired = [t for t, d in drifts.items() if d.fired]
    reason = "; ".join(f"{t}: {drifts[t].reason}" for t in fired) or "no ticker drifted"
    return {"drift": str(bool(fired)).lower(), "drift_reason": reason[:5000]}


def calendar_holdout_split(
    dates: Mapping[str, pd.DatetimeIndex], window: int, holdout: int, val_frac: float
) -> dict[str, Split]:
    """Each ticker's split with the universe's last ``holdout`` sessions as its test part."""
    calendar = union_calendar(dates)
    start = len(calendar) - holdout
    if start <= window:
        raise DataError(
            f"the universe's {len(calendar)} sessions are too few to hold out the last "
            f"{holdout} with a {window}-day window; use a smaller --holdout or more history"
        )
    n_val = int((start - window) * val_frac)
    return cut_by_date(dates, window, calendar[start - n_val], calendar[start])


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


def pool(per_ticker: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The mean over tickers of each score that does not depend on price levels."""
    return {m: float(np.mean([s[m] for s in per_ticker.values()])) for m in POOLED}


def _own(forecaster: Forecaster, ticker: str) -> Forecaster:
    """The global model with ``ticker``'s multipliers, or its pooled ones if it has none."""
    if ticker in forecaster.calibrations:
        return ticker_forecaster(forecaster, ticker)
    return forecaster


def run_global_retrain(
    cfg: Config,
    prices: Mapping[str, pd.DataFrame],
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Train a global challenger, score it and the champion on every ticker's holdout days,
    register it and promote it if its mean Theil's U is strictly lower."""
    tags = {**(tags or {}), "scope": GLOBAL}
    tickers = tuple(prices)
    old = registry.champion_version(GLOBAL)
    drifts = judge_drift(cfg, tickers, old)
    drifted = drifts is None or any(d.fired for d in drifts.values())
    if cfg.retrain.when == "drift" and not drifted:
        return _skip(cfg, drifts, old, experiment_id, tags)
    holdout, window = cfg.retrain.holdout, cfg.features.window
    dates = {t: p.index for t, p in prices.items()}
    splits = calendar_holdout_split(dates, window, holdout, cfg.features.val_frac)
    for ticker, split in splits.items():
        check_sizes(
            split,
            f"{ticker}: too little history around the universe's holdout cut (the last "
            f"{holdout} sessions) for a {window}-day window; leave it out or use --scope ticker",
        )
    features = {
        t: features_for_split(prices[t], splits[t], window, cfg.features.horizon) for t in tickers
    }
    calendar = union_calendar(dates)
    holdout_from, holdout_to = calendar[-holdout], calendar[-1]
    with lifecycle.run(
        cfg, tickers_label(tickers), experiment_id=experiment_id, kind="retrain",
        command="retrain", run_name="global-retrain", tags={**tags, **drift_tags(drifts)},
    ) as active:  # fmt: skip
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
        challenger = fit_universe(cfg, features, {"run_id": run_id, "trained_to": trained_to})
        champion = registry.load_champion(GLOBAL).forecaster if old is not None else None
        scores: dict[str, dict[str, dict[str, float]]] = {}
        for ticker in tickers:
            ends, close = splits[ticker].test, prices[ticker]["Close"].to_numpy()
            own = {"challenger": score_holdout(_own(challenger, ticker), prices[ticker], ends)}
            if champion is not None:
                own["champion"] = score_holdout(_own(champion, ticker), prices[ticker], ends)
            own["persistence"] = score(close[ends + 1], close[ends], close[ends])
            scores[ticker] = own
        pooled = {who: pool({t: scores[t][who] for t in tickers}) for who in scores[tickers[0]]}
        decision = promotion.decide(
            pooled["challenger"][DECIDED_ON],
            pooled.get("champion", {}).get(DECIDED_ON),
            metric="mean Theil's U",
        )
        for ticker in tickers:
            champion_calibration = (
                "own" if champion is None or ticker in champion.calibrations else "pooled"
            )
            with lifecycle.run(
                cfg, ticker, experiment_id=experiment_id, kind="retrain", command="retrain",
                nested=True, run_name=f"{ticker}-global-retrain",
                tags={**tags, "champion_calibration": champion_calibration},
            ):  # fmt: skip
                train_log.log_dataset(prices[ticker], ticker, source_uri(cfg.data, ticker))
                ends = splits[ticker].test
                day = prices[ticker].index
                lifecycle.log_tags(
                    {
                        "holdout_from": str(day[ends[0] + 1].date()),
                        "holdout_to": str(day[ends[-1] + 1].date()),
                    }
                )
                retrain_log.log_holdout_scores(scores[ticker])
        retrain_log.log_retrain(pooled, decision, old)
        # The model is logged with the example rows of the universe's first ticker.
        model_uri = log_model(challenger, prices[tickers[0]].iloc[-window:]).model_uri
        version = promotion.register(
            model_uri, GLOBAL, run_id, "retrain", decision, task_id=tags.get("task_id"),
            holdout_theil_u=f"{pooled['challenger'][DECIDED_ON]:.6f}",
        )  # fmt: skip
    summaries = [
        Summary(ticker, _ticker_text(ticker, scores[ticker], drifts), run_id) for ticker in tickers
    ]
    verb = "promoted" if decision.promote else "kept the champion"
    now = version if decision.promote else old
    text = (
        f"{GLOBAL}: {verb} ({decision.reason}); challenger is version {version}, champion is "
        f"version {now}; holdout {holdout_from.date()} to {holdout_to.date()}"
    )
    facts = {"promoted": decision.promote, "version": version, "pooled": pooled}
    summaries.append(Summary(GLOBAL, text, run_id, facts=facts))
    return summaries


def _skip(
    cfg: Config,
    drifts: Mapping[str, Drift],
    old: str,
    experiment_id: str,
    tags: Mapping[str, str],
) -> list[Summary]:
    """Keep the champion without training: it drifted on no ticker (a run says so)."""
    tickers = tuple(drifts)
    with lifecycle.run(
        cfg, tickers_label(tickers), experiment_id=experiment_id, kind="retrain",
        command="retrain", run_name="global-retrain",
        tags={**tags, **drift_tags(drifts), "decision": "skip", "champion_before": old},
    ) as active:  # fmt: skip
        run_id = active.info.run_id
    summaries = [Summary(t, _drift_text(t, drifts[t]), run_id) for t in tickers]
    text = f"{GLOBAL}: kept the champion (version {old}) without retraining: no ticker drifted"
    facts = {"promoted": False, "drift": dict(drifts)}
    summaries.append(Summary(GLOBAL, text, run_id, facts=facts))
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
