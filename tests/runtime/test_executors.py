"""Executors: the local loop, and Ray tasks on a real local Ray (no mocks).

The Ray tests share one 2-CPU Ray per module (ray.init takes seconds), except
the first, which lets the executor start and stop its own, so it must run first.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import helpers
import pytest

from pipeline.errors import ConfigError, DataError, Interrupted
from pipeline.runtime.executors import (
    RETRY_DELAY_S,
    LocalExecutor,
    Outcome,
    RayExecutor,
    make_executor,
)

REPO = Path(__file__).resolve().parents[2]


# --- job functions: top level, so that Ray can ship them -------------------------------------


def train_tiny(seed: int) -> tuple[list[float], int]:
    """A few seeded SGD steps on a tiny linear model: its weights, and torch's thread count."""
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    weights = [w for p in model.parameters() for w in p.detach().flatten().tolist()]
    return weights, torch.get_num_threads()


def square_or_fail(job: tuple[int, str]) -> int:
    """Square the number, except 2, which fails as bad data; counts its attempts in a file."""
    number, attempts_file = job
    with open(attempts_file, "a") as f:
        f.write("attempt\n")
    if number == 2:
        raise DataError(f"too little history for item {number}")
    return number * number


def crash_once(job: tuple[int, str]) -> int:
    """Kill its own worker process on the first attempt; square the number on the next."""
    number, attempts_file = job
    with open(attempts_file, "a") as f:
        f.write("attempt\n")
    if Path(attempts_file).read_text().count("attempt") == 1:
        os._exit(1)
    return number * number


def torch_threads(share: float) -> int:
    """The number of threads torch would use here."""
    import torch

    return torch.get_num_threads()


def wait_a_minute(job: tuple[str, str]) -> str:
    """Return at once ("quick"), or run for a minute: "polite" stops on KeyboardInterrupt,
    "stubborn" ignores it. Each appends its pid to <folder>/<kind>.started, a line per start."""
    kind, folder = job
    with open(Path(folder, f"{kind}.started"), "a") as started:
        started.write(f"{os.getpid()}\n")
    end = time.monotonic() + 60
    while kind != "quick" and time.monotonic() < end:
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:
            Path(folder, f"{kind}.interrupted").touch()
            if kind == "polite":
                raise
    return kind


def _raise_interrupted(signum, frame):
    raise Interrupted


# --- the local loop -------------------------------------------------------------------------


def test_local_results_in_order_and_one_failure_does_not_stop_the_rest(tmp_path):
    attempts = tmp_path / "attempts"
    outcomes = list(LocalExecutor().map(square_or_fail, [(n, str(attempts)) for n in (1, 2, 3)]))

    assert [o.item[0] for o in outcomes] == [1, 2, 3]
    assert [o.value for o in outcomes] == [1, None, 9]
    assert [o.ok for o in outcomes] == [True, False, True]
    error = outcomes[1].error
    assert type(error) is DataError
    assert str(error) == "too little history for item 2"
    assert error.exit_code == 3


def test_local_ctrl_c_is_not_an_outcome():
    def interrupt(item):
        raise KeyboardInterrupt

    outcomes = LocalExecutor().map(interrupt, [1, 2])
    with pytest.raises(KeyboardInterrupt):
        next(outcomes)


def test_unknown_engine_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown engine 'spark'; choose one of local, ray"):
        make_executor("spark")


def test_local_engine_never_imports_ray():
    code = (
        "import sys; from pipeline.runtime.executors import make_executor\n"
        "with make_executor('local') as ex: print([o.value for o in ex.map(abs, [-1, -2])])\n"
        "print('ray' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["[1,", "2]", "False"]


# --- Ray tasks on a local Ray -----------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory):
    """A throwaway token, so that no test writes ~/.ray/auth_token (a new local Ray
    turns token auth on and, lacking a token, writes one there)."""
    import ray

    # Workers import functions by module name and cannot import test modules:
    # ship this module's functions by value (real jobs live in the pipeline package).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    token = tmp_path_factory.mktemp("ray-token") / "token"
    token.write_text(helpers.RAY_TOKEN)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_TOKEN_PATH", str(token))
        # Left unset: this process read RAY_AUTH_MODE when it imported ray, so
        # setting it now would not reach its own client; unset, ray.init turns
        # token mode on by itself (and sets it, which delenv undoes at the end).
        env.delenv("RAY_AUTH_MODE", raising=False)
        env.delenv("RAY_ADDRESS", raising=False)
        yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def local_ray(ray_env):
    """One local Ray with 2 CPUs for the module; executors join it and leave it running."""
    import ray

    # A shell's `cmd &` starts the tests with SIGINT ignored, and Ray's processes would
    # inherit that: Ctrl-C could then neither stop this driver nor interrupt a task.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        quiet = {"include_dashboard": False, "logging_level": logging.WARNING}
        ray.init(address="local", num_cpus=2, **quiet)
        yield ray
        ray.shutdown()
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow  # starts a local Ray
def test_ray_gives_the_local_results_with_one_torch_thread_per_task(ray_env):
    import ray

    assert not ray.is_initialized()  # this test must run before local_ray starts
    seeds = [0, 1, 2, 3]
    local = {o.item: o.value for o in LocalExecutor().map(train_tiny, seeds)}

    previous = signal.signal(signal.SIGTERM, _raise_interrupted)  # as the CLI does
    try:
        with make_executor("ray", num_cpus_per_task=1) as executor:
            assert ray.is_initialized()
            assert signal.getsignal(signal.SIGTERM) is _raise_interrupted  # not Ray's
            remote = {o.item: o.value for o in executor.map(train_tiny, seeds)}
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not ray.is_initialized()  # it shut down the Ray it started

    assert [remote[s][0] for s in seeds] == [local[s][0] for s in seeds]
    assert {remote[s][1] for s in seeds} == {1}
    assert local[0][0] != local[1][0]  # the seeds matter, so the equality above means something


@pytest.mark.slow  # the module's local Ray
def test_ray_reports_the_jobs_own_error_and_does_not_retry_it(local_ray, tmp_path):
    attempts = tmp_path / "attempts"
    jobs = [(n, str(attempts)) for n in (1, 2, 3)]
    with RayExecutor() as executor:
        outcomes = {o.item[0]: o for o in executor.map(square_or_fail, jobs)}
    assert local_ray.is_initialized()  # joined, so left running

    assert outcomes[1].value == 1
    assert outcomes[3].value == 9
    error = outcomes[2].error
    assert type(error) is DataError
    assert str(error) == "too little history for item 2"
    assert error.exit_code == 3
    assert attempts.read_text().count("attempt") == 3  # one per item: the failure was not retried


@pytest.mark.slow  # the module's local Ray
def test_ray_retries_a_task_whose_worker_died(local_ray, tmp_path):
    attempts = tmp_path / "attempts"
    with RayExecutor() as executor:
        (outcome,) = executor.map(crash_once, [(7, str(attempts))])

    assert outcome == Outcome((7, str(attempts)), value=49)
    assert attempts.read_text().count("attempt") == 2


@pytest.mark.slow  # the module's local Ray
def test_ray_sets_torch_threads_to_the_tasks_cpu_share(local_ray):
    # A worker that first imported torch for a 1-CPU task keeps 1 thread unless told.
    shares = [0.5, 1, 2, 1]
    threads = []
    for share in shares:
        with RayExecutor(num_cpus_per_task=share) as executor:
            (outcome,) = executor.map(torch_threads, [share])
        threads.append(outcome.value)
    assert threads == [1, 1, 2, 1]


@pytest.mark.slow  # the module's local Ray
@pytest.mark.parametrize(
    ("signum", "stop"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Interrupted)]
)
def test_ray_ctrl_c_or_sigterm_cancels_the_tasks_still_running_or_queued(
    local_ray, tmp_path, signum, stop
):
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)  # as the CLI does
    kinds = ["quick", "polite", "stubborn", "queued"]  # 2 CPUs: "queued" waits for a free one
    folder = str(tmp_path)
    try:
        with RayExecutor() as executor:
            outcomes = executor.map(wait_a_minute, [(kind, folder) for kind in kinds])
            assert next(outcomes).value == "quick"
            assert _wait_for(lambda: (tmp_path / "stubborn.started").exists())

            signal_later = threading.Timer(0.3, os.kill, (os.getpid(), signum))
            signal_later.start()
            try:
                with pytest.raises(stop):
                    next(outcomes)  # waiting for the next task to end when the signal arrives
            finally:
                signal_later.cancel()
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert (tmp_path / "polite.interrupted").exists()  # asked first...
    stubborn_pid = int((tmp_path / "stubborn.started").read_text().split()[0])
    assert (tmp_path / "stubborn.interrupted").exists()
    assert _wait_for(lambda: not Path(f"/proc/{stubborn_pid}").exists())  # ...then killed
    assert _wait_for(lambda: local_ray.available_resources().get("CPU") == 2)
    assert not (tmp_path / "queued.started").exists()  # CPUs free again, and it never ran
    time.sleep(3 * RETRY_DELAY_S)  # a retry would have started by now
    assert (tmp_path / "stubborn.started").read_text() == f"{stubborn_pid}\n"  # killed, not retried
    assert not (tmp_path / "queued.started").exists()


@pytest.mark.slow  # the module's local Ray
def test_ray_leaving_a_map_unfinished_cancels_its_tasks(local_ray, tmp_path):
    folder = str(tmp_path)
    with pytest.raises(RuntimeError, match="the caller failed"), RayExecutor() as executor:
        for _ in executor.map(wait_a_minute, [("quick", folder), ("polite", folder)]):
            # Only once "polite" runs: a task cancelled before it starts never runs at all
            # (that case is the queued task above), and a cold worker can start late.
            assert _wait_for(lambda: (tmp_path / "polite.started").exists())
            raise RuntimeError("the caller failed")

    assert (tmp_path / "polite.interrupted").exists()
    assert _wait_for(lambda: local_ray.available_resources().get("CPU") == 2)


def _wait_for(condition, timeout_s: float = 60.0) -> bool:
    # Generous: a cold Ray worker on a busy 2-core machine (a CPU hog, another test suite)
    # took over 10 s to start a task; the wait ends as soon as the condition holds.
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True
