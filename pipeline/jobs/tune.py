"""The Ray Tune part of the sweep: Optuna's TPE proposes, ASHA stops, each trial an MLflow run.

With ``executors.py``, the one module that may import Ray (ruff TID251). The
wiring around it (prices, the parent run, the best config, the test days) is
``jobs/sweep.py``; the objective is ``evaluation/objective.py``.

What Ray 2.60 does that shapes this module:

- A function trainable learns that the scheduler stopped it from
  ``tune.report``, which raises ``SystemExit`` in the trial's thread. The trial
  catches it to end its MLflow run FINISHED (tagged ``stopped_early``) and
  raises it again. Tune may end the actor before that is written, so the
  driver settles every trial run afterwards (``tracking.sweeps.settle_trials``).
- Metric and mode go in ``TuneConfig``, where the searcher and the scheduler
  both read them.
- Tune chdirs a trial into its own folder: the tracking URI handed to trials
  must be absolute (the driver's ``for_engine`` makes it so).
- On Ctrl-C Tune would wind the experiment down and return normally; with
  ``TUNE_DISABLE_SIGINT_HANDLER`` Ctrl-C raises, so the driver can mark the
  sweep's runs KILLED and exit 130 like every other command. Tune waits on Ray
  in the main thread, where only KeyboardInterrupt gets out of a signal handler
  (the CLI's ``Interrupted`` came out as a SystemError, measured), so during
  ``fit`` SIGTERM raises KeyboardInterrupt, turned back into ``Interrupted``
  once Tune has stopped its trials. Tune's new output
  engine prints its banner even at ``verbose=0``; ``RAY_AIR_NEW_OUTPUT=0`` stops it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from pipeline.config import CELLS, Config, SweepConfig, parse_value, settings
from pipeline.errors import Interrupted
from pipeline.evaluation import objective
from pipeline.evaluation.objective import Progress
from pipeline.tracking import store, sweeps

METRIC = "objective"
REDUCTION_FACTOR = 3  # ASHA keeps the best third of the trials at each milestone
MAX_DROPOUT = 0.5


@dataclass(frozen=True)
class TrialContext:
    """What a trial needs besides its config and prices, as values (it may run elsewhere)."""

    experiment_id: str
    tracking_uri: str  # absolute, or a server's: the trial runs in a folder of Tune's
    sweep_id: str  # the parent run's id
    label: str  # the tickers, for the runs' ``ticker`` tag


@dataclass(frozen=True)
class TrialOutcome:
    """How one trial ended, as Tune saw it."""

    trial_id: str
    values: dict[str, Any] = field(default_factory=dict)  # the searched settings
    objective: float | None = None  # last reported: the full objective only when complete
    iterations: int = 0
    status: str = "failed"  # "complete", "stopped early" or "failed"
    error: str = ""


def search_space(cfg: SweepConfig) -> dict[str, Any]:
    """Tune's space over the searched settings, keyed ``section.field`` like the config."""
    low, high = cfg.lr_range
    return {
        "model.cell": tune.choice(list(CELLS)),
        "model.num_layers": tune.randint(1, cfg.max_layers + 1),
        "model.hidden_size": tune.choice(list(cfg.hidden_sizes)),
        "model.dropout": tune.uniform(0.0, MAX_DROPOUT),  # the model drops none with 1 layer
        "train.lr": tune.loguniform(low, high),
        "train.batch_size": tune.choice(list(cfg.batch_sizes)),
    }


def searched_values(space: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's sampled values as the config's own types (not numpy's)."""
    kinds = {key: kind for key, _, kind in settings()}
    return {key: parse_value(str(value), kinds[key], key) for key, value in space.items()}


def run_trials(
    cfg: Config,
    groups: Mapping[str, Mapping[str, pd.DataFrame]],
    context: TrialContext,
    storage: str,
    name: str,
) -> list[TrialOutcome]:
    """Run ``sweep.trials`` trials, ``sweep.concurrency`` at a time, on the Ray this process
    is connected to, over ``groups`` (name -> each ticker's prices); results and trial
    folders go to ``storage``/``name``."""
    total = objective.iterations(len(groups) * cfg.sweep.folds, cfg.train)
    groups = {g: dict(prices) for g, prices in groups.items()}
    trainable = tune.with_parameters(_trial, cfg=cfg, groups=groups, context=context)
    trainable = tune.with_resources(trainable, {"cpu": cfg.cluster.cpus_per_task})
    tuner = tune.Tuner(
        trainable,
        param_space=search_space(cfg.sweep),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="min",
            search_alg=OptunaSearch(sampler=optuna.samplers.TPESampler(seed=cfg.train.seed)),
            # Milestones at multiples of train.epochs judge whole folds (objective.py).
            scheduler=ASHAScheduler(
                time_attr="training_iteration",
                max_t=total,
                grace_period=cfg.train.epochs,
                reduction_factor=REDUCTION_FACTOR,
            ),
            num_samples=cfg.sweep.trials,
            max_concurrent_trials=cfg.sweep.concurrency,
            reuse_actors=True,  # no new process (torch import) per trial
            trial_dirname_creator=_dirname,
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=storage, verbose=0, callbacks=[_Printer(cfg.sweep.trials)]
        ),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per study
    with _quiet_and_interruptible(), _sigterm_as_ctrl_c():
        grid = tuner.fit()
    return [_outcome(result, total) for result in grid]


def _trial(
    space: dict[str, Any],
    *,
    cfg: Config,
    groups: dict[str, dict[str, pd.DataFrame]],
    context: TrialContext,
) -> None:
    """One trial in a Ray actor: its config, its folds, its MLflow run, a report per epoch."""
    import torch

    # A reused actor read OMP_NUM_THREADS when it imported torch: set the trial's share.
    torch.set_num_threads(max(1, int(cfg.cluster.cpus_per_task)))
    trial_cfg = cfg.with_values(searched_values(space))
    store.configure(context.tracking_uri)
    folds = objective.sweep_folds(groups, trial_cfg)
    total = objective.iterations(len(folds), trial_cfg.train)
    last = [0]  # the iteration last reported

    def report(progress: Progress) -> None:
        sweeps.log_progress(progress)
        last[0] = progress.iteration
        tune.report({METRIC: progress.objective, "fold": progress.fold, "epoch": progress.epoch})

    stopped: SystemExit | None = None
    trial_id = tune.get_context().get_trial_id()
    with sweeps.trial_run(
        trial_cfg, context.label, experiment_id=context.experiment_id,
        sweep_id=context.sweep_id, trial_id=trial_id,
    ):  # fmt: skip
        try:
            objective.sweep_objective(
                folds, trial_cfg.model, trial_cfg.train, report, trial_cfg.runtime
            )
        except SystemExit as exc:  # tune.report: the scheduler stopped this trial
            if last[0] < total:  # (at the last iteration, Tune stops a complete trial too)
                sweeps.mark_stopped_early()
            stopped = exc
    if stopped is not None:
        raise stopped


def _outcome(result: Any, total: int) -> TrialOutcome:
    """A Tune result as a TrialOutcome; the trial's folder is named by its id (``_dirname``)."""
    metrics = result.metrics or {}
    iterations = int(metrics.get("training_iteration", 0))
    if result.error is not None:
        status = "failed"
    else:
        status = "complete" if iterations >= total else "stopped early"
    return TrialOutcome(
        trial_id=os.path.basename(str(result.path)),
        values=searched_values({k: v for k, v in result.config.items() if "." in k}),
        objective=metrics.get(METRIC),
        iterations=iterations,
        status=status,
        error="" if result.error is None else f"{type(result.error).__name__}: {result.error}",
    )


def _dirname(trial: Any) -> str:
    return str(trial.trial_id)


class _Printer(tune.Callback):
    """One line per finished trial, instead of Tune's status tables."""

    def __init__(self, trials: int) -> None:
        self.trials, self.done = trials, 0

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial, f"objective {trial.last_result.get(METRIC, float('nan')):.4f}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial, "failed")

    def _line(self, trial: Any, what: str) -> None:
        self.done += 1
        settings_text = " ".join(
            f"{key.rpartition('.')[2]}={_short(value)}" for key, value in trial.config.items()
        )
        iterations = trial.last_result.get("training_iteration", 0)
        print(
            f"trial {self.done}/{self.trials} {trial.trial_id}: {what} after {iterations} "
            f"epochs; {settings_text}",
            flush=True,
        )


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@contextlib.contextmanager
def _quiet_and_interruptible() -> Iterator[None]:
    """Tune without its own tables (``_Printer`` says what matters), and with Ctrl-C raising
    KeyboardInterrupt out of ``Tuner.fit`` (see the module's docstring)."""
    changes = {"TUNE_DISABLE_SIGINT_HANDLER": "1", "RAY_AIR_NEW_OUTPUT": "0"}
    before = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """During the block SIGTERM raises KeyboardInterrupt; it leaves the block as ``Interrupted``.

    Ray re-raises a KeyboardInterrupt from a handler as a plain one (measured), so
    which signal it was is remembered here rather than in the exception's type.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def terminated(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except KeyboardInterrupt:
        if received:
            raise Interrupted(f"signal {received[0]}") from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
