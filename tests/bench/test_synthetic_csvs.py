"""``make synthetic``: the synthetic tickers (``pipeline.data.synthetic``) as CSVs."""

from __future__ import annotations

from benchmarks.synthetic import write_synthetic
from pipeline.data.validate import read_price_csv


def test_write_synthetic_writes_csvs_the_csv_source_reads(tmp_path):
    folder = write_synthetic(tmp_path / "syn", n_tickers=2, days=60, seed=1)
    frames = [read_price_csv(folder / f"SYN00{i}.csv") for i in range(2)]
    assert [len(f) for f in frames] == [60, 60]
    assert not frames[0]["Close"].equals(frames[1]["Close"])
