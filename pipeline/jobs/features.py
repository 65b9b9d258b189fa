"""The ``features`` job for one group: its tickers' saved prices split by calendar date (a
ticker's own days for a group of one), the scalers fitted on each one's training rows, and
the features saved for the train stage."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config import Config
from pipeline.jobs import stages
from pipeline.runtime.common import Group, Summary


def run_features(
    cfg: Config, group: Group, experiment_id: str | None, *, tags: Mapping[str, str] | None = None
) -> list[Summary]:
    """The features of a group's tickers from the fetch stage's prices, saved."""
    summaries = []
    for ticker, own in stages.features_stage(cfg, group.prices).items():
        n_train, n_val, n_test = own.split.sizes()
        text = f"{ticker}: windows train {n_train}, validation {n_val}, test {n_test}"
        summaries.append(Summary(ticker, text))
    return summaries
