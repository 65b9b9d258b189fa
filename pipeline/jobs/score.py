"""The ``score`` job for one ticker: stored forecasts against the Closes that came.

Records the realised Closes the store waits for (from the price source or
cache), scores every stored forecast whose Close is known, per model version,
horizon and level, and logs a monitoring run whose metric steps are sessions.
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
from pipeline.jobs.common import Summary
from pipeline.jobs.forecast import record_outcomes
from pipeline.store.forecasts import ForecastStore
from pipeline.tracking import lifecycle, monitor_log


def run_score(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    store: ForecastStore,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> Summary:
    """Score ``ticker``'s stored forecasts; log them in a new monitoring run."""
    record_outcomes(store, ticker, prices)
    levels = store.levels(ticker)
    if not levels:
        return Summary(ticker, f"{ticker}: no stored forecasts with intervals to score yet")
    last_session = prices.index[-1]
    lines, facts = [], {}
    with lifecycle.run(
        cfg, ticker, experiment_id=experiment_id, kind="monitor", command="score", tags=tags
    ) as active:
        for level in levels:
            outcomes = sort_outcomes(store.outcomes(ticker, level), last_session)
            if outcomes.scored.empty:
                lines.append(f"{ticker}: no stored forecast has its Close yet")
                continue
            live = live_scores(outcomes.scored, level, cfg.monitor.window)
            monitor_log.log_monitoring(live, ticker, level, cfg.monitor.window)
            facts[level] = live
            lines += [score_line(ticker, level, live, v) for v in live["model_version"].unique()]
            if not outcomes.missing.empty:
                days = ", ".join(str(d.date()) for d in outcomes.missing["target"][:5])
                lines.append(
                    f"{ticker}: {len(outcomes.missing)} forecast(s) left unscored: no Close on "
                    f"their session ({days}; a holiday, a halt or a delisting)"
                )
        lifecycle.log_tags({"scored_to": str(last_session.date())})
    if not outcomes.pending.empty:
        lines.append(f"{ticker}: {len(outcomes.pending)} forecast(s) wait for their Close")
    return Summary(ticker, "\n".join(lines), active.info.run_id, facts={"live": facts})


def score_line(ticker: str, level: float, live: pd.DataFrame, version: str) -> str:
    """One model version's live scores: since its promotion, and over the last window."""
    mine = live[live["model_version"] == version]
    last, p = mine.iloc[-1], level_name(level)
    return (
        f"{ticker} version {version}, horizon 1: {len(mine)} sessions "
        f"{mine.index[0].date()} to {mine.index[-1].date()}; since promotion {p}% coverage "
        f"{last['since_promotion_coverage']:.3f}, interval score "
        f"{last['since_promotion_interval_score']:.3f}, Theil's U "
        f"{last['since_promotion_theil_u']:.3f}; last sessions' coverage "
        f"{last['live_coverage']:.3f}, interval score {last['live_interval_score']:.3f}"
    )
