"""Promotion in the registry: register a version, record why, move the alias if promoted.

The rule (when a version becomes the champion) is ``evaluation.promotion``'s;
this is where it acts. The alias moves last, in one registry call, so a failure
anywhere before leaves the champion where it was.
"""

from __future__ import annotations

from pipeline.evaluation.promotion import Decision
from pipeline.tracking import registry


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
