"""Benchmarks (``make bench``): what the pipeline itself costs, against plain baselines.

Each figure compares two things measured in this process on the same data:
every job runs once to warm up, then ``repeats`` times. Jobs that form a ratio
run in turns (A, B, A, B, ...), so a change in the machine's speed during the
run (other load, clock scaling) reaches both sides, and each ratio is the
median of the paired ratios (round i's A over round i's B), with their min and
max as its spread (``paired_ratios``; the JSON's ``ratios`` says so for each).
Each part's figures are written (and printed) as soon as the part ends. One
module per benchmark, in the order they run (each says what it compares); what
they share, timing, ratios, the JSON and the table, is ``harness.py``:

- ``data_path.py``: ``data_path_speedup``, the tutorial's batches over the pipeline's.
- ``train_epoch.py``: ``train_overhead_ratio``, ``train_epoch`` over a bare loop.
- ``stages.py``: ``stage_seconds`` and ``logging_share`` of a ``make all`` run.
- ``stages_server.py``: ``server_logging_share``, the same against the tracking server.
- ``features_scaling.py``: ``features_scaling``, features and windows as tickers grow.
- ``inference.py``: ``inference``, the logged pyfunc model for one window and a batch.

``python -m benchmarks.bench --help`` lists the options; ``--quick`` is a smoke test.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from benchmarks import (
    data_path,
    features_scaling,
    harness,
    inference,
    stages,
    stages_server,
    train_epoch,
)
from benchmarks.harness import Bench, BenchConfig, Row
from pipeline.config import Config
from pipeline.core.features import build_features
from pipeline.data.sources import load_sample
from pipeline.errors import ConfigError, StockcastError
from pipeline.models.training import pick_device

DEFAULT_OUT = Path("bench-results") / "bench.json"

# Each part's module: ``measure(bench)`` and ``rows(results)``, in the order they run.
BENCHMARKS: dict[str, ModuleType] = {
    "data_path": data_path,
    "train_epoch": train_epoch,
    "stages": stages,
    "stages_server": stages_server,
    "features_scaling": features_scaling,
    "inference": inference,
}
PARTS = tuple(BENCHMARKS)


def run_benchmarks(
    settings: BenchConfig,
    device: torch.device,
    amp: bool,
    folder: Path,
    on_part: Callable[[dict[str, Any], str], None] | None = None,
) -> dict[str, Any]:
    """Every benchmark, in one dictionary ready for JSON; ``on_part`` sees it after each part."""
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": harness.machine_info(device),
        "settings": {**dataclasses.asdict(settings), "amp": amp},
        "ratios": {},  # each ratio's statistic, spread and paired ratios
        "errors": {},  # parts that failed: their error line and exit code
        "part_seconds": {},
    }
    base = Config()
    prices = load_sample(settings.ticker)
    features = build_features(prices, base.features, settings.ticker)
    bench = Bench(settings, device, amp, folder, base, prices, features)
    for part, module in BENCHMARKS.items():
        harness.run_part(results, part, lambda module=module: module.measure(bench), on_part)
    results["machine"]["load_average_at_end"] = harness.load_average()
    return results


def part_rows(results: dict[str, Any], part: str) -> list[Row]:
    """The table's rows for one part: figure, value [spread], target, what was measured."""
    return harness.part_rows(results, part, BENCHMARKS[part].rows)


def format_table(results: dict[str, Any]) -> str:
    """The figures as a plain-text table, one line each, with what was compared."""
    done = [part for part in PARTS if part in results["part_seconds"]]
    return harness.format_table(results, [row for part in done for row in part_rows(results, part)])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description="Benchmark the pipeline against baselines."
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA if present"
    )
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    parser.add_argument(
        "--repeats", type=int, help=f"timed repeats per figure (default {BenchConfig.repeats})"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> BenchConfig:
    """The benchmark sizes the options ask for, or ConfigError."""
    for name in ("repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name} must be at least 1, not {value}")
    settings = BenchConfig.quick() if args.quick else BenchConfig()
    if args.repeats is not None:
        settings = dataclasses.replace(settings, repeats=args.repeats)
    return settings


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, writing the JSON and printing its rows as each part ends."""
    args = parse_args(argv)
    out = args.out.resolve()  # before the benchmarks change the working folder for MLflow
    threads = torch.get_num_threads()

    def write_part(results: dict[str, Any], part: str) -> None:
        harness.write_json(out, results)
        for row in part_rows(results, part):
            print(f"[{part}, {results['part_seconds'][part]:.0f} s] " + "  ".join(row), flush=True)

    try:
        settings = settings_from_args(args)
        device = pick_device(args.device)
        if args.threads:
            torch.set_num_threads(args.threads)
        with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as tmp:
            results = run_benchmarks(settings, device, args.amp, Path(tmp), write_part)
        harness.write_json(out, results)
    except StockcastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        torch.set_num_threads(threads)  # leave the process as it was (tests call main)
    print()
    print(format_table(results))
    print(f"wrote {out}")
    for part, failure in results["errors"].items():
        print(f"error: {part}: {failure['error']}", file=sys.stderr)
    failures = list(results["errors"].values())
    return failures[0]["exit_code"] if failures else 0


if __name__ == "__main__":
    sys.exit(main())
