"""The promotion policy, in one place: when a newly registered version becomes the champion.

``make all`` registers every model but promotes only when there is no champion
yet; ``make retrain`` promotes a challenger whose mean holdout Theil's U over
its group's tickers is strictly lower than the champion's (for a ticker's own
model it orders the two exactly as the holdout RMSE does). The alias moves
last, in one registry call, so a failure anywhere before leaves the champion
where it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tracking import registry


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


def first_champion(name: str) -> Decision:
    """The ``all`` job's rule: a new model becomes champion only if there is none."""
    if registry.champion_version(name) is None:
        return Decision(True, "no champion yet")
    return Decision(False, "the champion is kept until `make retrain`")


def register(
    model_uri: str,
    ticker: str,
    run_id: str,
    job: str,
    decision: Decision,
    task_id: str | None = None,
    **tags: str,
) -> str:
    """Register the model as a new version, record why, then move the alias if promoted.

    ``task_id`` makes a retried task idempotent: if an earlier attempt of the
    same task (a worker killed after registering) left a version, it is reused
    rather than registered twice.
    """
    version = registry.version_with_tag(ticker, "task_id", task_id) if task_id else None
    if version is None:
        identity = {"run_id": run_id, "job": job, **({"task_id": task_id} if task_id else {})}
        version = registry.register(model_uri, ticker, tags=identity)
    if tags or job == "retrain":
        registry.tag_version(ticker, version, {**tags, "decision": decision.reason})
    if decision.promote:
        registry.promote(ticker, version)
    return version
