"""The promotion policy, in one place: when a newly registered version becomes the champion.

``make all`` registers every model but promotes only when there is no champion
yet (``first_champion`` in ``tracking.promotion``); ``make retrain`` promotes a
challenger whose mean holdout Theil's U over its group's tickers (``pool``) is
strictly lower than the champion's (``decide``). Theil's U is RMSE over
persistence's RMSE on the same days: within one ticker it orders two models
exactly as RMSE does, and averaging it gives every ticker of a group the same
weight, where a pooled RMSE in price units would let the highest-priced ticker
decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DECIDED_ON = "theil_u"  # the score the decision compares, averaged over the group's tickers
POOLED = ("theil_u", "mape", "direction_acc")  # scores that do not depend on price levels


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(challenger: float, champion: float | None, metric: str = "mean Theil's U") -> Decision:
    """Promote when there is no champion, or when the challenger's score (lower is better)
    is strictly lower; ``metric`` names the score compared in the reason."""
    if champion is None:
        return Decision(True, "no champion yet")
    if not np.isfinite(challenger):
        return Decision(False, f"challenger {metric} is not finite")
    if challenger < champion:
        return Decision(True, f"challenger {metric} {challenger:.4f} < champion {champion:.4f}")
    return Decision(False, f"challenger {metric} {challenger:.4f} >= champion {champion:.4f}")


def pool(per_ticker: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The mean over tickers of each score that does not depend on price levels."""
    return {m: float(np.mean([s[m] for s in per_ticker.values()])) for m in POOLED}
