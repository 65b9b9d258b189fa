"""MLflow tracking calls per second: SQLite against the PostgreSQL-backed tracking server.

Each writer is a separate process that, for each of its runs, creates the run, logs params
one call at a time, logs a metric N times (one step per call) and ends the run: the pattern of
many small calls that training loops produce. All writers start together, once each has
imported MLflow and connected, and the throughput is successful calls over the wall time from
the start to the last writer's end. Runs found afterwards are counted against runs attempted,
so lost writes show up.

    python benchmarks/tracking_throughput.py [--quick] [--writers 1,4,16]
        [--backends sqlite,server] [--server-uri http://127.0.0.1:5050]

- sqlite: `sqlite:///<temp>/mlflow.db`, the schema created by this driver before the writers
  start (4 processes creating it at once race in its migration: runs are lost, and the file
  is often left half-migrated and unreadable).
- server: `mlflow server` on PostgreSQL, started through scripts/tracking-server in a
  temporary folder on free ports (PostgreSQL must be installed), or the one at --server-uri.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from mlflow.tracking import MlflowClient

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tracking-server"


@dataclass(frozen=True)
class Workload:
    """What one writer process does."""

    runs: int = 3  # runs per writer
    params: int = 5  # log_param calls per run
    metrics: int = 40  # log_metric calls per run (one step each)

    @property
    def calls_per_run(self) -> int:
        return 1 + self.params + self.metrics + 1  # create, params, metrics, end


QUICK = Workload(runs=1, params=2, metrics=10)


@dataclass(frozen=True)
class Result:
    """One backend at one number of writers."""

    backend: str
    writers: int
    calls: int  # successful tracking calls, all writers together
    seconds: float  # from the common start to the last writer's end
    calls_per_s: float
    runs_expected: int
    runs_found: int  # FINISHED runs in the experiment afterwards
    errors: int  # runs abandoned because a call raised


def _writer(conn: Connection) -> None:
    """A writer process: for each task it gets, connect, report ready, wait for go, write."""
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"  # one line per run otherwise
    while (task := conn.recv()) is not None:
        uri, experiment_id, work = task
        client = MlflowClient(uri)
        client.get_experiment(experiment_id)  # connects (SQLite: opens the store) before the clock
        conn.send("ready")
        conn.recv()
        conn.send(_write(client, experiment_id, work))


def _write(client: MlflowClient, experiment_id: str, work: Workload) -> tuple:
    """`work.runs` runs; returns (start, end, successful calls, runs abandoned on an error)."""
    began, calls, errors = time.monotonic(), 0, 0
    for _ in range(work.runs):
        try:
            run_id = client.create_run(experiment_id).info.run_id
            calls += 1
            for p in range(work.params):
                client.log_param(run_id, f"p{p}", p)
                calls += 1
            for step in range(work.metrics):
                client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
                calls += 1
            client.set_terminated(run_id)
            calls += 1
        except Exception as error:  # counted and reported: losing writes is what we measure
            print(f"writer {os.getpid()}: {type(error).__name__}: {error}", file=sys.stderr)
            errors += 1
    return began, time.monotonic(), calls, errors


@contextmanager
def writer_processes(count: int) -> Iterator[list[Connection]]:
    """`count` writer processes, started once (each imports MLflow: seconds of CPU apiece)."""
    spawn = multiprocessing.get_context("spawn")  # clean processes, as Ray or a scheduler starts
    pipes = [spawn.Pipe() for _ in range(count)]
    procs = [spawn.Process(target=_writer, args=(child,), daemon=True) for _, child in pipes]
    for proc in procs:
        proc.start()
    try:
        yield [parent for parent, _ in pipes]
    finally:
        for parent, _ in pipes:
            parent.send(None)
        for proc in procs:
            proc.join(timeout=30)


def measure(uri: str, backend: str, writers: list[Connection], work: Workload) -> Result:
    """All `writers` write at once to `uri`, in a new experiment."""
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(f"throughput-{len(writers)}-{time.time_ns()}")
    for conn in writers:
        conn.send((uri, experiment_id, work))
    for conn in writers:
        conn.recv()  # ready
    for conn in writers:
        conn.send("go")
    outcomes = [conn.recv() for conn in writers]
    began = min(o[0] for o in outcomes)
    seconds = max(o[1] for o in outcomes) - began
    calls = sum(o[2] for o in outcomes)
    found = client.search_runs([experiment_id], "attributes.status = 'FINISHED'", max_results=5000)
    return Result(
        backend=backend,
        writers=len(writers),
        calls=calls,
        seconds=round(seconds, 3),
        calls_per_s=round(calls / seconds, 1),
        runs_expected=len(writers) * work.runs,
        runs_found=len(found),
        errors=sum(o[3] for o in outcomes),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def temporary_server() -> Iterator[str]:
    """A PostgreSQL-backed `mlflow server` in a temporary folder (scripts/tracking-server)."""
    folder = Path(tempfile.mkdtemp(prefix="stockcast-bench-"))
    folder.chmod(0o755)  # as root, PostgreSQL runs as the postgres user, who must enter it
    port = _free_port()
    env = {
        **os.environ,
        "TRACKING_DIR": str(folder),
        "PG_PORT": str(_free_port()),
        "MLFLOW_PORT": str(port),
        "TRACKING_PYTHON": sys.executable,
    }
    try:
        subprocess.run([str(SCRIPT), "start"], env=env, check=True, stdout=subprocess.DEVNULL)
        yield f"http://127.0.0.1:{port}"
    finally:
        stopped = subprocess.run([str(SCRIPT), "stop"], env=env, stdout=subprocess.DEVNULL)
        if stopped.returncode == 0:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def temporary_sqlite() -> Iterator[str]:
    """A SQLite store in a temporary folder, its schema created before any writer starts."""
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as folder:
        uri = f"sqlite:///{folder}/mlflow.db"
        MlflowClient(uri).search_experiments()  # creates the schema, once
        yield uri


def print_table(results: list[Result]) -> None:
    print(f"{'backend':8} {'writers':>7} {'calls':>6} {'seconds':>8} {'calls/s':>8} "
          f"{'runs found':>11} {'errors':>6}")  # fmt: skip
    for r in results:
        print(f"{r.backend:8} {r.writers:7d} {r.calls:6d} {r.seconds:8.2f} {r.calls_per_s:8.1f} "
              f"{r.runs_found:>5d}/{r.runs_expected:<5d} {r.errors:6d}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    """Measure every backend at every number of writers; print a table, return a dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 short run per writer")
    parser.add_argument("--writers", default="1,4,16", help="numbers of concurrent writers")
    parser.add_argument("--backends", default="sqlite,server", help="sqlite and/or server")
    parser.add_argument("--server-uri", help="use this running server instead of starting one")
    args = parser.parse_args(argv)
    work = QUICK if args.quick else Workload()
    counts = [int(n) for n in args.writers.split(",")]
    stores = {"sqlite": temporary_sqlite, "server": temporary_server}
    load_before = os.getloadavg()
    results = []
    with writer_processes(max(counts)) as writers:
        for backend in args.backends.split(","):
            if backend == "server" and args.server_uri:
                store = nullcontext(args.server_uri)
            else:
                store = stores[backend]()
            with store as uri:
                results += [measure(uri, backend, writers[:n], work) for n in counts]
    load_after = os.getloadavg()
    print(f"workload per writer: {asdict(work)} ({work.runs * work.calls_per_run} calls); "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print_table(results)
    print(f"load average (1, 5, 15 min) before: {load_before}, after: {load_after}")
    return {
        "workload": asdict(work),
        "results": [asdict(r) for r in results],
        "load_before": load_before,
        "load_after": load_after,
    }


if __name__ == "__main__":
    main()
