"""The ``train`` job for one group: its network trained on the tickers' saved features, in the
group's run (a ticker's own run for a ticker's own model), and saved with its training record
under ``data/processed/<GROUP>/``."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config import Config
from pipeline.jobs import stages
from pipeline.jobs.all import group_runs
from pipeline.runtime.common import Group, Summary


def run_train(
    cfg: Config, group: Group, experiment_id: str, *, tags: Mapping[str, str] | None = None
) -> list[Summary]:
    """Train the group's network on its tickers' saved features (the group's run)."""
    saved = {ticker: stages.saved_features(cfg, ticker) for ticker in group.tickers}
    with group_runs(cfg, group, experiment_id, "train", tags or {}).group() as active:
        stages.train_stage(cfg, group.name, saved, active.info.run_id)
    return []
