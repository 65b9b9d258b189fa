"""Whether a champion drifted, judged on its stored forecasts (the rule is
``evaluation.live.detect_drift``; this reads what it needs from the store and the registry).

The yardstick of the interval score is the champion's own on its test days, as
its registration run logged it (a model for many tickers: the ticker's run
nested under it), put in % of the Close (its score times its
width in % over its width in price units); a champion promoted by ``retrain``
logged no test-day intervals, and is then judged on coverage alone.
"""

from __future__ import annotations

from pipeline.config import Config
from pipeline.core.bands import level_name
from pipeline.evaluation.live import Drift, detect_drift, live_scores
from pipeline.models.rnn import RNN
from pipeline.store.forecasts import ForecastStore
from pipeline.tracking import registry
from pipeline.tracking.names import metric_key

LEVEL = 0.9  # the level judged when stored; else the first stored one


def reference_pct(metrics: dict[str, float], level: float) -> float | None:
    """The test days' mean interval score in % of the Close, from a run's metrics."""
    p = level_name(level)
    score, width, pct = (
        metrics.get(metric_key(RNN, "test", f"{m}_{p}"))
        for m in ("interval_score", "width", "width_pct")
    )
    if score is None or width is None or pct is None or width <= 0:
        return None
    return score * pct / width


def check_drift(
    cfg: Config, ticker: str, version: str, store: ForecastStore, *, model: str | None = None
) -> Drift:
    """Judge the champion ``version`` on ``ticker``'s scored forecasts in ``store``.

    ``model``: the registered model's key (its group's name), ``ticker`` (its own model)
    by default; judged on its forecasts of ``ticker`` against the ticker's own test-day
    scores (``registry.version_ticker_metrics``).
    """
    model = model or ticker
    name = registry.model_name(model)
    levels = store.levels(ticker, name)
    if not levels:
        return Drift(False, "no stored forecasts to judge drift on")
    level = LEVEL if LEVEL in levels else levels[0]
    outcomes = store.outcomes(ticker, level, model_name=name)
    scored = outcomes[(outcomes["model_version"] == str(version)) & outcomes["close"].notna()]
    if scored.empty:
        return Drift(False, f"no scored forecasts of version {version} in the store yet")
    live = live_scores(scored, level, cfg.monitor.window)
    metrics = registry.version_ticker_metrics(model, version, ticker)
    reference = reference_pct(metrics, level)
    return detect_drift(live, level, reference, cfg.monitor)
