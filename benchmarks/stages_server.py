"""``server_logging_share``: the ``make all`` run of ``stages`` against the PostgreSQL-backed
tracking server that a cluster logs to (``scripts/tracking-server`` in a temporary folder),
and the server's time per request."""

from __future__ import annotations

import time
from typing import Any

import mlflow

from benchmarks import tracking_throughput
from benchmarks.harness import Bench, Row, median, ratio_row
from benchmarks.stages import bench_stages


def measure(bench: Bench) -> dict[str, Any]:
    """``bench_stages`` against the tracking server (``make tracking-server``, started in a
    temporary folder), with the server's median request time on a kept-alive connection
    (``get_experiment``, the smallest request)."""
    settings = bench.settings
    with tracking_throughput.temporary_server() as uri:
        figures = bench_stages(settings, bench.device, bench.amp, bench.folder / "server", uri)
        client = mlflow.MlflowClient(uri)
        seconds = []
        for _ in range(settings.latency_calls):
            began = time.perf_counter()
            client.get_experiment("0")
            seconds.append(time.perf_counter() - began)
    return {
        "server_stage_seconds": figures["stage_seconds"],
        "server_logging_share": figures["logging_share"],
        "ratios": {"server_logging_share": figures["ratios"]["logging_share"]},
        "server_stage_run": {**figures["stage_run"], "request_ms": median(seconds) * 1e3},
    }


def rows(results: dict[str, Any]) -> list[Row]:
    """This part's lines of the table."""
    r, s = results["server_stage_run"], results["server_stage_seconds"]
    measured = (
        f"against the tracking server (PostgreSQL), medians: mlflow {s['mlflow']:.2f} s of "
        f"{r['total_s']:.2f} s; {r['request_ms']:.1f} ms a request (kept-alive connection)"
    )
    ratio = results["ratios"]["server_logging_share"]
    return [ratio_row("server_logging_share", ratio, 3, "<= 0.10", measured)]
