"""Live scores of stored forecasts against the Closes that came: coverage, interval score,
Theil's U, over a rolling window of sessions and since the model version was promoted.

Pure functions on the frame ``ForecastStore.outcomes`` returns; the scoring job
wires them to the store and to MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.config import MonitorConfig
from pipeline.core.bands import level_name
from pipeline.metrics.intervals import interval_score


@dataclass(frozen=True)
class Outcomes:
    """A ticker's stored forecasts at one level, sorted into what can and cannot be scored."""

    scored: pd.DataFrame  # the realised Close is known
    missing: pd.DataFrame  # the target session has passed without a Close (holiday, halt, ...)
    pending: pd.DataFrame  # the target session has not come yet


def sort_outcomes(frame: pd.DataFrame, last_session: pd.Timestamp) -> Outcomes:
    """Split ``outcomes`` rows by whether their Close is known, missing or still to come."""
    known = frame["close"].notna()
    passed = frame["target"] <= last_session
    return Outcomes(frame[known], frame[~known & passed], frame[~known & ~passed])


def live_scores(scored: pd.DataFrame, level: float, window: int) -> pd.DataFrame:
    """Per target session: the day's hit and interval score, and the rolling and
    since-promotion coverage, interval score and Theil's U.

    Since-promotion scores restart with each model version (the sessions it served as
    champion); the rolling ones run over the last ``window`` sessions whoever forecast them.
    """
    frame = scored.sort_values("target").set_index("target")
    actual, lower, upper = (frame[c].to_numpy(float) for c in ("close", "lower", "upper"))
    daily = pd.DataFrame(
        {
            "model_version": frame["model_version"],
            "covered": ((actual >= lower) & (actual <= upper)).astype(float),
            "interval_score": interval_score(actual, lower, upper, level),
            # In % of the Close it was issued on: comparable across price levels (drift).
            "interval_score_pct": 100.0
            * interval_score(actual, lower, upper, level)
            / frame["last_close"].to_numpy(float),
            "sq_error": (frame["median"].to_numpy(float) - actual) ** 2,
            "sq_persistence": (frame["last_close"].to_numpy(float) - actual) ** 2,
        },
        index=frame.index,
    )
    rolling = daily.drop(columns="model_version").rolling(window, min_periods=1).mean()
    since = daily.groupby("model_version", sort=False).expanding().mean()
    since = since.reset_index(level=0, drop=True).reindex(daily.index)
    out = daily[["model_version", "covered", "interval_score", "interval_score_pct"]].copy()
    for scope, means in (("live", rolling), ("since_promotion", since)):
        out[f"{scope}_coverage"] = means["covered"]
        out[f"{scope}_interval_score"] = means["interval_score"]
        out[f"{scope}_theil_u"] = np.sqrt(means["sq_error"] / means["sq_persistence"])
    out["sessions_since_promotion"] = daily.groupby("model_version", sort=False).cumcount() + 1
    return out


def realised_misses(outcomes: pd.DataFrame, model_version: str, as_of: pd.Timestamp) -> list[bool]:
    """Whether each of a version's forecasts missed, for the targets known by ``as_of``.

    Oldest target first: online ACI's history. Only Closes up to ``as_of`` count,
    so a forecast replayed as of a past session sees what was known then.
    """
    known = outcomes[
        (outcomes["model_version"] == str(model_version))
        & outcomes["close"].notna()
        & (outcomes["target"] <= pd.Timestamp(as_of))
    ].sort_values("target")
    inside = (known["close"] >= known["lower"]) & (known["close"] <= known["upper"])
    return list(~inside.to_numpy(bool))


@dataclass(frozen=True)
class Drift:
    """Whether a champion's live scores say it drifted, and why (one line)."""

    fired: bool
    reason: str


def coverage_band(n: int, level: float, alpha: float) -> tuple[float, float]:
    """The live coverages over ``n`` sessions that a two-sided binomial test at ``alpha``
    does not reject for a true coverage of ``level``."""
    kept = [k for k in range(n + 1) if stats.binomtest(k, n, level).pvalue >= alpha]
    return kept[0] / n, kept[-1] / n


def detect_drift(
    live: pd.DataFrame, level: float, reference_pct: float | None, monitor: MonitorConfig
) -> Drift:
    """Judge one model version's last ``monitor.window`` scored sessions (``live_scores``).

    Drift when the share of Closes inside the ``level`` interval leaves its band
    (two-sided binomial test at ``monitor.drift_alpha``), or when the mean interval
    score in % of the Close exceeds ``reference_pct`` (the test days') by more than
    ``monitor.drift_margin``. Too few sessions: no verdict yet (not fired).
    """
    recent = live.tail(monitor.window)
    n, p = len(recent), level_name(level)
    if n < monitor.drift_min_sessions:
        return Drift(False, f"{n} scored sessions, too few to judge ({monitor.drift_min_sessions})")
    inside = int(recent["covered"].sum())
    cover = inside / n
    low, high = coverage_band(n, level, monitor.drift_alpha)
    pvalue = stats.binomtest(inside, n, level).pvalue
    score = float(recent["interval_score_pct"].mean())
    facts = f"live {p}% coverage {cover:.3f} over {n} sessions (band {low:.3f} to {high:.3f})"
    if pvalue < monitor.drift_alpha:
        return Drift(True, f"{facts}: outside its band (binomial p={pvalue:.2g})")
    if reference_pct is not None and score > reference_pct * (1 + monitor.drift_margin):
        return Drift(
            True,
            f"live {p}% interval score {score:.3f}% of the Close over {n} sessions is worse "
            f"than the test days' {reference_pct:.3f}% by more than {monitor.drift_margin:.0%}",
        )
    against = "" if reference_pct is None else f" (test days {reference_pct:.3f}%)"
    return Drift(False, f"no drift: {facts}, interval score {score:.3f}% of the Close{against}")
