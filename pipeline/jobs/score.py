"""The ``score`` job for one group: each ticker's stored forecasts of the group's model
against the Closes that came.

Records the realised Closes the store waits for (from the price source or
cache), scores every stored forecast whose Close is known, per model version,
horizon and level, and logs a monitoring run whose metric steps are target
sessions: horizon 1's metrics keep their names (``live_coverage_90``), the
others' end in ``_h<h>`` (``live_coverage_90_h2``; ``monitor_log.live_metric_names``).
An h-day forecast is scored once its target session's Close has come.
A forecast whose target session passed without a Close (a holiday the
calendar did not know, a halt, a delisting) is named and left unscored; one
whose session has not come yet waits for the next scoring.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipeline.config import Config
from pipeline.core.bands import level_name
from pipeline.evaluation.live import live_scores, sort_outcomes
from pipeline.jobs.forecast import record_outcomes
from pipeline.runtime.common import Group, Summary, each_ticker
from pipeline.store.forecasts import ForecastStore
from pipeline.tracking import lifecycle, monitor_log, registry


def run_score(
    cfg: Config,
    group: Group,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Score the group's model's stored forecasts of each of its tickers (a monitoring run
    each; a ticker that fails does so alone)."""
    with ForecastStore(cfg.store.url) as store:
        return each_ticker(
            group.tickers,
            lambda t: score_ticker(
                cfg, t, group.prices[t], store, experiment_id, tags=tags, model=group.name
            ),
        )


def score_ticker(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    store: ForecastStore,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
    model: str | None = None,
) -> Summary:
    """Score ``ticker``'s stored forecasts, each horizon apart; log them in the monitoring run
    of the ticker and model, made on the first scoring and extended by every later one
    (horizon 1's metrics as named before horizons, ``_h2``, ``_h3``, ... for the others).

    ``facts["live"]`` holds horizon 1's scores by level (as before horizons);
    ``facts["live_by_horizon"]`` every horizon's. ``model``: whose forecasts, the
    registered model's key (``ticker``, its own, by default; ``global``).
    """
    name = registry.model_name(model or ticker)
    record_outcomes(store, ticker, prices)
    levels = store.levels(ticker, name)
    if not levels:
        return Summary(ticker, f"{ticker}: no stored forecasts with intervals to score yet")
    last_session = prices.index[-1]
    lines: list[str] = []
    by_horizon: dict[int, dict[float, pd.DataFrame]] = {}
    pending = 0
    run_id = monitor_log.monitor_run_id(experiment_id, ticker, name)
    tags = {**(tags or {}), monitor_log.MONITORED_MODEL_TAG: name}
    with lifecycle.run(
        cfg, ticker, experiment_id=experiment_id, kind="monitor", command="score",
        run_id=run_id, tags=tags,
    ) as active:  # fmt: skip
        for horizon in store.horizons(ticker, name):
            for level in levels:
                outcomes = sort_outcomes(store.outcomes(ticker, level, horizon, name), last_session)
                if level == levels[-1]:
                    pending += len(outcomes.pending)
                if outcomes.scored.empty:
                    lines.append(f"{ticker}: no stored {horizon}-day forecast has its Close yet")
                    continue
                live = live_scores(outcomes.scored, level, cfg.monitor.window)
                monitor_log.log_monitoring(live, ticker, level, cfg.monitor.window, horizon)
                by_horizon.setdefault(horizon, {})[level] = live
                lines += [
                    score_line(ticker, level, live, v, horizon)
                    for v in live["model_version"].unique()
                ]
                if not outcomes.missing.empty:
                    days = ", ".join(str(d.date()) for d in outcomes.missing["target"][:5])
                    lines.append(
                        f"{ticker}: {len(outcomes.missing)} {horizon}-day forecast(s) left "
                        f"unscored: no Close on their session ({days}; a holiday, a halt or a "
                        "delisting)"
                    )
        lifecycle.log_tags({"scored_to": str(last_session.date())})
    if pending:
        lines.append(f"{ticker}: {pending} forecast(s) wait for their Close")
    facts = {"live": by_horizon.get(1, {}), "live_by_horizon": by_horizon}
    return Summary(ticker, "\n".join(lines), active.info.run_id, facts=facts)


def score_line(
    ticker: str, level: float, live: pd.DataFrame, version: str, horizon: int = 1
) -> str:
    """One model version's live scores at one horizon: since its promotion, and over the
    last window."""
    mine = live[live["model_version"] == version]
    last, p = mine.iloc[-1], level_name(level)
    return (
        f"{ticker} version {version}, horizon {horizon}: {len(mine)} sessions "
        f"{mine.index[0].date()} to {mine.index[-1].date()}; since promotion {p}% coverage "
        f"{last['since_promotion_coverage']:.3f}, interval score "
        f"{last['since_promotion_interval_score']:.3f}, Theil's U "
        f"{last['since_promotion_theil_u']:.3f}; last sessions' coverage "
        f"{last['live_coverage']:.3f}, interval score {last['live_interval_score']:.3f}"
    )
