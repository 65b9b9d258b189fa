"""Each CLI command as a job entry: the wiring the command line dispatches to.

``cli.py`` parses the options into a Config and calls one of these with it and
the tracking URI; nothing here parses options. Every command runs its job once
per group through the driver (``driver.run_groups``: a group per ticker with
``--scope ticker``, one for the universe with ``--scope global``), on the
configured engine (local or Ray). The stage commands (fetch, features, train,
evaluate) run one stage per group on the previous stage's files (``stages.py``).
Each job is a file of its own (``fetch.py``, ``features.py``, ..., ``sweep.py``).
"""

from __future__ import annotations

from pipeline.config import Config
from pipeline.jobs import stages
from pipeline.jobs.all import run_all
from pipeline.jobs.backtest import run_backtest, save_report
from pipeline.jobs.evaluate import run_evaluate
from pipeline.jobs.features import run_features
from pipeline.jobs.fetch import run_fetch
from pipeline.jobs.retrain import run_retrain
from pipeline.jobs.train import run_train
from pipeline.runtime.common import StageClock, Summary
from pipeline.runtime.driver import new_job_id, prepare, prepare_store, report_summary, run_groups
from pipeline.runtime.lock import exclusive_lock
from pipeline.tracking.ui import runs_url


def fetch(cfg: Config, tracking_uri: str | None = None) -> int:
    """Load and validate each ticker's prices; save them for the features stage."""
    from pipeline.tracking import store

    store.configure(tracking_uri)
    return run_groups(cfg, run_fetch)


def features(cfg: Config, tracking_uri: str | None = None) -> int:
    """Split each group by calendar date, fit the scalers on training rows, save the features."""
    from pipeline.tracking import store

    store.configure(tracking_uri)
    return run_groups(cfg, run_features, load=lambda c, t: stages.saved_prices(c, t))


def train(cfg: Config, tracking_uri: str | None = None) -> int:
    """Train each group's model on its saved features, in a new MLflow run."""
    return run_groups(cfg, run_train, prepare(cfg, tracking_uri), load=None)


def evaluate(cfg: Config, tracking_uri: str | None = None) -> int:
    """Score each group's saved model on its tickers' test days and register it, in the train
    stage's run."""
    return run_groups(cfg, run_evaluate, prepare(cfg, tracking_uri), load=None)


def all_stages(cfg: Config, tracking_uri: str | None = None) -> int:
    """Fetch, features, train and evaluate every group; print the time by stage."""
    clock = StageClock()
    with clock.stage("mlflow"):
        experiment_id = prepare(cfg, tracking_uri)
    summaries: list[Summary] = []
    job_id = new_job_id()
    code = run_groups(cfg, run_all, experiment_id, clock, summaries.append, job_id=job_id)
    with clock.stage("mlflow"):
        report_summary(
            cfg, summaries, experiment_id, command="all", days="the test days", job_id=job_id
        )
    print(f"the runs: {runs_url(experiment_id)} (`make ui` serves them)")
    total = sum(clock.seconds.values())
    parts = ", ".join(f"{k} {v:.1f}s" for k, v in clock.seconds.items())
    print(f"time by stage: {parts} (total {total:.1f}s)")
    return code


def backtest(cfg: Config, tracking_uri: str | None = None) -> int:
    """Walk-forward backtest of every group; the tables go to the reports folder."""
    experiment_id = prepare(cfg, tracking_uri)
    summaries: list[Summary] = []
    job_id = new_job_id()

    def on_summary(summary: Summary) -> None:
        save_report(cfg, summary)
        summaries.append(summary)

    code = run_groups(cfg, run_backtest, experiment_id, on_summary=on_summary, job_id=job_id)
    days = "the walk-forward folds' test days, pooled"
    report_summary(cfg, summaries, experiment_id, command="backtest", days=days, job_id=job_id)
    print(f"the runs: {runs_url(experiment_id)} (`make ui` serves them)")
    print(f"reports: {cfg.paths.reports_dir / 'backtest'}")
    return code


def retrain(cfg: Config, tracking_uri: str | None = None) -> int:
    """Challengers against the champions, one retrain job at a time (a file lock).

    Every ticker of a group must load, or the group is not trained: a champion is
    compared on the universe it was trained on.
    """
    experiment_id = prepare(cfg, tracking_uri)
    with exclusive_lock(cfg.paths.retrain_lock):
        return run_groups(cfg, run_retrain, experiment_id, whole=True)


def predict(cfg: Config, tracking_uri: str | None = None) -> int:
    """Each ticker's forecast for the next sessions by its group's champion, with its
    intervals, stored (the nightly ``forecast`` job, for the tickers asked)."""
    from pipeline.jobs.predict import run_predict
    from pipeline.tracking import store

    store.configure(tracking_uri)
    prepare_store(cfg)
    return run_groups(cfg, run_predict)


def forecast(cfg: Config, tracking_uri: str | None = None) -> int:
    """The nightly job: refresh each ticker's prices, forecast with its group's champion,
    store, print. The store is opened (and its schema checked) once, before any group."""
    from pipeline.jobs.forecast import run_forecast
    from pipeline.tracking import store

    store.configure(tracking_uri)
    prepare_store(cfg)
    return run_groups(cfg, run_forecast)


def score(cfg: Config, tracking_uri: str | None = None) -> int:
    """Score each group's model's stored forecasts of its tickers against realised Closes;
    a monitoring run each."""
    from pipeline.jobs.score import run_score

    experiment_id = prepare(cfg, tracking_uri)
    prepare_store(cfg)
    return run_groups(cfg, run_score, experiment_id)


def backfill(cfg: Config, tracking_uri: str | None = None) -> int:
    """Replay the nightly forecast over past sessions with each group's champion, then
    score."""
    from pipeline.jobs.backfill import run_backfill

    experiment_id = prepare(cfg, tracking_uri)
    prepare_store(cfg)
    return run_groups(cfg, run_backfill, experiment_id)


def ui(cfg: Config, tracking_uri: str | None = None, port: int = 5000) -> int:
    """Serve MLflow's UI for a local store and print the URL of the experiment's runs once it
    answers; for a tracking server, print the URL of its own UI."""
    from pipeline.tracking import store
    from pipeline.tracking import ui as mlflow_ui

    store.configure(tracking_uri)
    experiment_id = mlflow_ui.find_experiment(cfg.experiment)
    if experiment_id is None:
        print(f"no experiment {cfg.experiment!r} yet: `make all` makes its runs", flush=True)
    if mlflow_ui.serves_its_own_ui():  # the server's own UI: nothing to start here
        if experiment_id is not None:
            print(f"the runs: {mlflow_ui.runs_url(experiment_id, port)}", flush=True)
        return 0
    return mlflow_ui.serve_ui(port, experiment_id)  # prints the URL once the UI answers


def sweep(cfg: Config, tracking_uri: str | None = None) -> int:
    """The hyper-parameter sweep (Ray Tune), then the best config on the test days."""
    from pipeline.jobs.sweep import check_sweep, run_sweep  # imports Ray

    check_sweep(cfg)
    return run_sweep(cfg, prepare(cfg, tracking_uri))
