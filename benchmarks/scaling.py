"""Scaling out (``make bench``, second part): Ray against one process, on the same tickers.

- ``fanout_speedup``: the ``all`` job on N synthetic tickers (16), in-process (torch
  on one thread) over ENGINE=ray with one CPU per task on a local
  Ray, same config and seed: the median of the paired ratios of runs taking
  turns on warm workers (``bench.paired_ratios``), their min and max; the
  start (``ray.init`` and the workers' first run, imports included) apart; and
  against in-process with a torch thread per core (``fanout_speedup_vs_all_cores``,
  with ``--vs-all-cores`` only: three more 16-ticker runs, a third of the part). Also
  how busy the tasks kept the CPUs (early stopping makes tickers unequal, so the
  last task to end leaves a CPU idle: the fewer the tickers, the larger that tail).
- ``ray_task_overhead_share``: on a warm worker, a task's round trip beyond its
  own work (a no-op task's round trip) over the median ticker's task time.
- ``threads``: one ticker's training in-process with 1 and with 2 torch threads.
- ``tickers_per_hour``: ``make all ENGINE=ray`` as a user runs it (a new process
  that starts its own local Ray, the default config, SQLite; then again against the
  PostgreSQL-backed tracking server, ``tickers_per_hour_server``) on ``--rate-tickers``
  synthetic tickers, wall clock from start to exit, runs counted after; and what
  it gives on paper for 500 tickers here (labelled as arithmetic). Not in
  ``make bench`` (7 minutes a store on 2 cores for 100): ``make bench-rate`` runs it alone.
- ``tracking``: MLflow calls per second, SQLite and the PostgreSQL server, with
  1, 4 and 16 writers (``benchmarks/tracking_throughput.py``).

Every ratio comes with the spread of its paired runs (the JSON's ``ratios``), and
each part's figures are written (and printed) as soon as it ends.

``python -m benchmarks.scaling --help`` lists the options; ``--quick`` is a smoke test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from mlflow.tracking import MlflowClient

from benchmarks import tracking_throughput
from benchmarks.harness import format_ratio, mlflow_store, paired_ratios
from benchmarks.synthetic import write_synthetic
from pipeline import storage
from pipeline.config import ClusterConfig, Config, DataConfig, Paths, RuntimeConfig, TrainConfig
from pipeline.core.features import build_features
from pipeline.data.synthetic import synthetic_universe
from pipeline.jobs.all import run_all
from pipeline.models.training import fit
from pipeline.runtime.driver import run_groups
from pipeline.tracking.store import prepare_experiment

DEFAULT_OUT = Path("bench-results") / "scaling.json"
ROOT = Path(__file__).resolve().parents[1]


def timed_all(cfg: Config, label: str) -> tuple[float, list[float]]:
    """Seconds of one ``all`` over every ticker, and each ticker's task seconds."""
    experiment_id = prepare_experiment(label)
    seconds: list[float] = []

    def keep(summary) -> None:
        seconds.append(sum(summary.seconds.values()))

    began = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = run_groups(cfg.replace(experiment=label), run_all, experiment_id, on_summary=keep)
    if code != 0:
        raise RuntimeError(f"the {label} run failed with exit code {code}")
    return time.perf_counter() - began, seconds


def make_all_rate(
    tickers: int, days: int, epochs: int | None, uri: str | None = None
) -> dict[str, Any]:
    """``make all ENGINE=ray SCOPE=ticker SOURCE=csv DATA=...`` on N synthetic tickers, timed
    from outside.

    The command is the one ``make all`` runs, in a new process and an empty folder with
    its own SQLite store (or logging to ``uri``, a tracking server), so the figure includes
    Ray's start and stop, the imports and the store's creation. Afterwards every run is
    counted by status: none may be lost.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_synthetic(Path(tmp) / "csvs", tickers, days, seed=11)
        uri = uri or f"sqlite:///{tmp}/mlflow.db"
        command = [
            sys.executable,
            "-m",
            "pipeline",
            "all",
            "--scope",
            "ticker",  # a network per ticker: the rate is of tickers fanned out on Ray
            "--engine",
            "ray",
            "--source",
            "csv",
            "--data",
            str(folder),
            "--no-progress",
            "--experiment",
            "bench-rate",
        ]
        if epochs is not None:
            command += ["--epochs", str(epochs)]
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        env.pop("MLFLOW_REGISTRY_URI", None)  # the registry is the tracking store
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        log = Path(tmp) / "all.log"
        began = time.perf_counter()
        with log.open("w") as out:
            code = subprocess.run(
                command, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT
            ).returncode
        seconds = time.perf_counter() - began
        if code != 0:
            tail = log.read_text().splitlines()[-30:]
            raise RuntimeError(f"make all ENGINE=ray exited {code}:\n" + "\n".join(tail))
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("bench-rate")
        # The tickers' runs; the job's summary run (kind=summary) is not a ticker's.
        runs = client.search_runs(
            [experiment.experiment_id], "tags.kind = 'train'", max_results=50_000
        )
        status: dict[str, int] = {}
        for r in runs:
            status[r.info.status] = status.get(r.info.status, 0) + 1
    rate = tickers / seconds * 3600
    return {
        "tickers": tickers,
        "days": days,
        "epochs": epochs if epochs is not None else Config().train.epochs,
        "seconds": seconds,
        "runs_by_status": status,
        "measured_ray": rate,
        "on_paper_500_tickers_here_min": 500 / rate * 60,
    }


def task_round_trips(calls: int) -> list[float]:
    """Seconds of each of ``calls`` no-op Ray task round trips on a warm worker."""
    import ray

    from pipeline.runtime.executors import RayExecutor

    times = []
    with RayExecutor() as executor:
        # A builtin as the no-op: workers import it by name (this module is not shipped).
        list(executor.map(abs, range(4)))  # warm the workers
        for _ in range(calls):
            began = time.perf_counter()
            (outcome,) = executor.map(abs, [0])
            times.append(time.perf_counter() - began)
            if outcome.error is not None:
                raise RuntimeError(f"the no-op task failed: {outcome.error!r}")
    assert ray.is_initialized()
    return times


def thread_seconds(cfg: Config, prices, repeats: int) -> dict[str, Any]:
    """Median seconds of one ticker's training with 1 and 2 torch threads (taking turns).

    ``speedup_2_threads``: 1 thread's seconds over 2 threads', a paired ratio.
    """
    features = build_features(prices, cfg.features)
    before = torch.get_num_threads()
    times: dict[str, list[float]] = {"1": [], "2": []}
    try:
        for _ in range(repeats):
            for n in ("1", "2"):
                torch.set_num_threads(int(n))
                began = time.perf_counter()
                fit(features, cfg.model, cfg.train)
                times[n].append(time.perf_counter() - began)
    finally:
        torch.set_num_threads(before)
    return {
        **{f"threads_{n}_s": statistics.median(v) for n, v in times.items()},
        "speedup_2_threads": paired_ratios(times["1"], times["2"]),
    }


def run(
    args: argparse.Namespace, on_part: Callable[[dict[str, Any], str], None] | None = None
) -> dict[str, Any]:
    """Every scaling figure, in one dictionary ready for JSON; ``on_part`` sees it after each part.

    Parts: ``threads``, ``fanout`` (with the task overhead), ``rate`` (only with
    ``--rate-tickers``) and ``tracking``; ``--rate-only`` runs the rate alone.
    """
    results: dict[str, Any] = {"load_before": os.getloadavg(), "ratios": {}, "part_seconds": {}}

    def done(part: str, began: float) -> None:
        results["part_seconds"][part] = time.perf_counter() - began
        if on_part:
            on_part(results, part)

    if not args.rate_only:
        fan_out(args, results, done)
    if args.rate_tickers:
        began = time.perf_counter()
        epochs = args.epochs if args.quick else None  # None: the default config's
        results["tickers_per_hour"] = make_all_rate(args.rate_tickers, args.days, epochs)
        done("rate", began)
        began = time.perf_counter()
        with tracking_throughput.temporary_server() as uri:  # what a cluster logs to
            results["tickers_per_hour_server"] = make_all_rate(
                args.rate_tickers, args.days, epochs, uri
            )
        done("rate_server", began)
    if not (args.no_tracking or args.rate_only):
        began = time.perf_counter()
        writers = "1,4" if args.quick else "1,4,16"
        quick = ["--quick"] if args.quick else []
        results["tracking"] = tracking_throughput.main([*quick, "--writers", writers])
        done("tracking", began)
    results["load_after"] = os.getloadavg()
    return results


def fan_out(
    args: argparse.Namespace, results: dict[str, Any], done: Callable[[str, float], None]
) -> None:
    """The ``threads`` and ``fanout`` parts (the latter with the task overhead) into ``results``."""
    import ray

    with tempfile.TemporaryDirectory() as tmp, mlflow_store(Path(tmp)):
        began = time.perf_counter()
        folder = write_synthetic(Path(tmp) / "csvs", args.tickers, args.days, seed=7)
        runtime = RuntimeConfig(progress=False, device="cpu", threads=1)  # the figure's own count
        base = Config(  # a network per ticker: the fan-out is of tickers
            data=DataConfig(source="csv", csv_path=folder),
            train=TrainConfig(epochs=args.epochs),
            cluster=ClusterConfig(scope="ticker"),
            runtime=runtime,
            paths=Paths(data_dir=Path(tmp) / "data", reports_dir=Path(tmp) / "reports"),
        )
        prices = synthetic_universe(1, args.days, seed=7)["SYN000"]  # the first CSV's
        results["threads"] = thread_seconds(base, prices, args.thread_repeats)
        results["ratios"]["speedup_2_threads"] = results["threads"]["speedup_2_threads"]
        done("threads", began)

        began = time.perf_counter()
        on_ray = base.replace(cluster=ClusterConfig(scope="ticker", engine="ray"))
        ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
        ray_init_s = time.perf_counter() - began
        try:
            # The first pass starts the workers (each imports torch, MLflow, ...): timed
            # apart; then in-process and Ray take turns on warm workers.
            cold_s, _ = timed_all(on_ray, "bench-ray-cold")
            # In-process also with a thread per core, usually faster on an idle machine.
            cores = base.replace(runtime=dataclasses.replace(runtime, threads=ray_cpus()))
            local, local_cores, on, local_tasks, ray_tasks = [], [], [], [], []
            for i in range(args.repeats):
                seconds, tasks = timed_all(base, f"bench-local-{i}")
                local.append(seconds)
                local_tasks += tasks
                if args.vs_all_cores:
                    local_cores.append(timed_all(cores, f"bench-local-cores-{i}")[0])
                seconds, tasks = timed_all(on_ray, f"bench-ray-{i}")
                on.append(seconds)
                ray_tasks += tasks
            round_trips = task_round_trips(args.calls)
        finally:
            ray.shutdown()
    local_s, ray_s = statistics.median(local), statistics.median(on)
    per_task = statistics.median(local_tasks)
    speedup = paired_ratios(local, on)
    vs_cores = paired_ratios(local_cores, on) if local_cores else None
    overhead = paired_ratios(
        round_trips,
        [per_task] * len(round_trips),
        statistic="median of the no-op round trips over the median ticker's task",
    )
    results["ratios"].update(
        fanout_speedup=speedup,
        **({"fanout_speedup_vs_all_cores": vs_cores} if vs_cores else {}),
        ray_task_overhead_share=overhead,
    )
    results["fanout"] = {
        "tickers": args.tickers,
        "local_s": local_s,
        "ray_s": ray_s,
        "local_runs_s": local,
        "ray_runs_s": on,
        "ray_init_s": ray_init_s,
        "ray_cold_s": cold_s,
        "fanout_speedup": speedup["value"],
        "fanout_speedup_cold": local_s / (ray_init_s + cold_s),  # one cold run: no spread
        **(
            {
                "local_all_cores_s": statistics.median(local_cores),
                "local_all_cores_runs_s": local_cores,
                "fanout_speedup_vs_all_cores": vs_cores["value"],
            }
            if vs_cores
            else {}
        ),
        # Where Ray's time goes: a ticker's own seconds in a task against in-process,
        # and the share of the CPUs' time that tasks kept busy (1.0: no gaps, no tail).
        "task_s_median_local": per_task,
        "task_s_median_ray": statistics.median(ray_tasks),
        "ray_busy_share": sum(ray_tasks) / (ray_cpus() * sum(on)),
        "cpus": ray_cpus(),
        "tickers_per_hour_warm": args.tickers / ray_s * 3600,
    }
    results["ray_task_overhead_share"] = {
        "round_trip_s": statistics.median(round_trips),
        "median_task_s": per_task,
        "share": overhead["value"],
    }
    done("fanout", began)


def ray_cpus() -> int:
    """The CPUs a local Ray counts here (what the fan-out could use)."""
    return os.cpu_count() or 1


def part_lines(results: dict[str, Any], part: str) -> list[str]:
    """The table's lines for one part; ratios read ``value [min-max of the paired ratios]``."""
    ratios = results["ratios"]
    if part == "threads":
        t = results["threads"]
        return [
            f"threads                  1: {t['threads_1_s']:.2f}s, 2: {t['threads_2_s']:.2f}s "
            f"(one ticker's training, medians); 1 thread over 2: "
            f"{format_ratio(ratios['speedup_2_threads'], 2)}"
        ]
    if part == "fanout":
        f, o = results["fanout"], results["ray_task_overhead_share"]
        speedup, vs_cores = ratios["fanout_speedup"], ratios.get("fanout_speedup_vs_all_cores")
        overhead = ratios["ray_task_overhead_share"]
        cores = (
            [
                f"  vs {f['cpus']} threads          {format_ratio(vs_cores, 2)}  "
                f"(in-process with a torch thread per core: {f['local_all_cores_s']:.1f}s)"
            ]
            if vs_cores
            else []
        )
        return [
            f"fanout_speedup           {format_ratio(speedup, 2)}  ({f['tickers']} tickers: "
            f"in-process {f['local_s']:.1f}s, ray {f['ray_s']:.1f}s on warm workers, medians; "
            f"median of {len(speedup['paired_ratios'])} paired ratios, ratio of minimums "
            f"{speedup['ratio_of_minimums']:.2f}; {f['fanout_speedup_cold']:.2f} cold: "
            f"ray.init {f['ray_init_s']:.1f}s + first run {f['ray_cold_s']:.1f}s)",
            *cores,
            f"  ray tasks                CPUs busy {f['ray_busy_share']:.0%} of the run; median "
            f"ticker {f['task_s_median_ray']:.2f}s in a task, {f['task_s_median_local']:.2f}s "
            "in-process",
            f"ray_task_overhead_share  {format_ratio(overhead, 4)}  (round trip "
            f"{o['round_trip_s'] * 1e3:.1f} ms, median of {len(overhead['paired_ratios'])}, "
            f"over a {o['median_task_s']:.2f} s task)",
        ]
    if part in ("rate", "rate_server"):
        h = results["tickers_per_hour" if part == "rate" else "tickers_per_hour_server"]
        name = "tickers_per_hour" if part == "rate" else "  against the server   "
        store = "SQLite" if part == "rate" else "the PostgreSQL tracking server"
        return [
            f"{name:24} {h['measured_ray']:.0f}  ({store}; make all ENGINE=ray, "
            f"{h['tickers']} tickers, up to {h['epochs']} epochs: {h['seconds'] / 60:.1f} min, "
            f"one run; runs {h['runs_by_status']}; on paper: 500 tickers in "
            f"{h['on_paper_500_tickers_here_min']:.0f} min here)"
        ]
    rows = results["tracking"]["results"]
    speeds = "; ".join(
        f"{r['backend']} x{r['writers']}: {r['calls_per_s']:.1f}/s "
        f"({r['runs_found']}/{r['runs_expected']} runs)"
        for r in rows
    )
    return [f"tracking                 MLflow calls per second, one run each: {speeds}"]


def format_table(results: dict[str, Any]) -> str:
    """The figures as a plain table."""
    return "\n".join(line for part in results["part_seconds"] for line in part_lines(results, part))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__)
    p.add_argument("--tickers", type=int, default=16, help="synthetic tickers (default 16)")
    p.add_argument("--days", type=int, default=1500, help="days per ticker (default 1500)")
    p.add_argument("--epochs", type=int, default=10, help="most epochs (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="in-process/Ray pairs (default 3)")
    p.add_argument(
        "--thread-repeats", type=int, default=7, help="1/2-thread pairs of one training (7)"
    )
    p.add_argument("--calls", type=int, default=50, help="no-op tasks timed (default 50)")
    p.add_argument(
        "--vs-all-cores",
        action="store_true",
        help="also time in-process with a torch thread per core (3 more 16-ticker runs; the "
        "threads part compares 1 and 2 threads on one ticker either way)",
    )
    p.add_argument(
        "--rate-tickers",
        type=int,
        help="tickers of the timed make all ENGINE=ray (default: 100 with --rate-only, "
        "else 0, which skips it; make bench-rate)",
    )
    p.add_argument("--rate-only", action="store_true", help="only the timed make all ENGINE=ray")
    p.add_argument("--quick", action="store_true", help="smoke test: tiny sizes")
    p.add_argument("--no-tracking", action="store_true", help="skip the MLflow throughput part")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    args = p.parse_args(argv)
    if args.rate_tickers is None:
        args.rate_tickers = 100 if args.rate_only else 0
    if args.quick:
        args.tickers, args.days, args.epochs, args.repeats, args.calls = 3, 300, 1, 1, 5
        args.thread_repeats = 1
        args.rate_tickers = min(args.rate_tickers, 3)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the scaling figures, writing the JSON and printing each part's lines as it ends."""
    args = parse_args(argv)

    def write_part(results: dict[str, Any], part: str) -> None:
        storage.write_text(args.out, json.dumps(results, indent=2) + "\n")
        seconds = results["part_seconds"][part]
        for line in part_lines(results, part):
            print(f"[{part}, {seconds:.0f} s] {line}", flush=True)

    results = run(args, write_part)
    storage.write_text(args.out, json.dumps(results, indent=2) + "\n")
    print()
    print(format_table(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
