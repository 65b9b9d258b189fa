"""The ``fetch`` job for one group: each ticker's prices, loaded and validated by the driver,
saved where the features stage reads them (``data/processed/<TICKER>/prices.csv``)."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config import Config
from pipeline.jobs import stages
from pipeline.runtime.common import Group, Summary


def run_fetch(
    cfg: Config, group: Group, experiment_id: str | None, *, tags: Mapping[str, str] | None = None
) -> list[Summary]:
    """Save each ticker's prices (fetched by the driver) where the features stage reads them."""
    summaries = []
    for ticker, prices in group.prices.items():
        stages.save_prices(cfg, ticker, prices)
        first, last = prices.index[0].date(), prices.index[-1].date()
        summaries.append(Summary(ticker, f"{ticker}: {len(prices)} days, {first} to {last}"))
    return summaries
