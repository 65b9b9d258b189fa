"""Each CLI command as a job entry: the wiring the command line dispatches to.

``cli.py`` parses the options into a Config and calls one of these with it and
the tracking URI; nothing here parses options. The stage commands (fetch,
features, train, evaluate) run one stage per ticker on the previous stage's
files (``stages.py``); ``all``, ``backtest`` and ``retrain`` run a job per
ticker through the driver (local or Ray).
"""

from __future__ import annotations

from functools import partial

from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.jobs import stages
from pipeline.jobs.all import register_evaluation, registered_text, run_all
from pipeline.jobs.backtest import run_backtest, run_global_backtest, save_report
from pipeline.jobs.common import StageClock, Summary
from pipeline.jobs.driver import (
    each_ticker,
    fetch_universe,
    for_engine,
    new_job_id,
    prepare,
    priced_job,
    report_summary,
    tickers_for,
)
from pipeline.jobs.lock import exclusive_lock
from pipeline.jobs.retrain import run_retrain
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking import lifecycle
from pipeline.tracking.ui import runs_url


def fetch(cfg: Config, tracking_uri: str | None = None) -> int:
    """Load and validate each ticker's prices; save them for the features stage."""

    def one(ticker: str) -> Summary:
        prices = stages.fetch_stage(cfg, ticker)
        first, last = prices.index[0].date(), prices.index[-1].date()
        return Summary(ticker, f"{ticker}: {len(prices)} days, {first} to {last}")

    return each_ticker(cfg, one)


def features(cfg: Config, tracking_uri: str | None = None) -> int:
    """Split, fit the scalers on training rows and save the features of each ticker."""

    def one(ticker: str) -> Summary:
        n_train, n_val, n_test = stages.features_stage(cfg, ticker).split.sizes()
        text = f"{ticker}: windows train {n_train}, validation {n_val}, test {n_test}"
        return Summary(ticker, text)

    return each_ticker(cfg, one)


def per_ticker_only(cfg: Config, command: str) -> None:
    """ConfigError for ``--scope global`` on a command that trains per-ticker models only."""
    if cfg.train.scope == "global":
        raise ConfigError(
            f"{command} trains one model per ticker: --scope global is for all, backtest, "
            "retrain, predict, forecast, score and backfill (drop --scope, or use "
            "`all --scope global`)"
        )


def train(cfg: Config, tracking_uri: str | None = None) -> int:
    """Train each ticker's model on its saved features, in a new MLflow run."""
    per_ticker_only(cfg, "train")
    experiment_id = prepare(cfg, tracking_uri)

    def one(ticker: str) -> None:
        saved = stages.saved_features(cfg, ticker)
        run = lifecycle.run(cfg, ticker, experiment_id=experiment_id, kind="train", command="train")
        with run as active:
            stages.train_stage(cfg, ticker, saved, active.info.run_id)

    return each_ticker(cfg, one)


def evaluate(cfg: Config, tracking_uri: str | None = None) -> int:
    """Score each saved model on its test days and register it, in the train stage's run."""
    per_ticker_only(cfg, "evaluate")
    experiment_id = prepare(cfg, tracking_uri)

    def one(ticker: str) -> Summary:
        run_id = stages.saved_run_id(cfg, ticker)
        saved = stages.saved_features(cfg, ticker)
        prices = stages.saved_prices(cfg, ticker)
        forecaster = Forecaster.load(cfg.paths.processed_dir(ticker) / stages.MODEL_DIR)
        run = lifecycle.run(cfg, ticker, experiment_id=experiment_id, kind="train", run_id=run_id)
        with run:
            evaluation, version, decision = register_evaluation(
                cfg, ticker, saved, forecaster, prices, run_id
            )
        text = stages.evaluation_text(ticker, saved, evaluation)
        return Summary(ticker, f"{text}\n{registered_text(ticker, version, decision.promote)}")

    return each_ticker(cfg, one)


def all_stages(cfg: Config, tracking_uri: str | None = None) -> int:
    """Fetch, features, train and evaluate every ticker; print the time by stage."""
    clock = StageClock()
    with clock.stage("mlflow"):
        experiment_id = prepare(cfg, tracking_uri)
    summaries: list[Summary] = []
    job_id = new_job_id()
    if cfg.train.scope == "global":  # one network for the universe: one job, here
        from pipeline.jobs.global_model import run_global_all

        cfg = for_engine(cfg)[0]
        with clock.stage("fetch"):
            prices, code = fetch_universe(cfg)
        with clock.stage("train"):
            found = run_global_all(cfg, prices, experiment_id, tags={"job_id": job_id})
        for summary in found:
            summaries.append(summary)
            print(summary.text, flush=True)
    else:
        code = priced_job(cfg, run_all, experiment_id, clock, summaries.append, job_id=job_id)
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
    """Walk-forward backtest of every ticker; the tables go to the reports folder."""
    experiment_id = prepare(cfg, tracking_uri)
    summaries: list[Summary] = []
    job_id = new_job_id()

    def on_summary(summary: Summary) -> None:
        save_report(cfg, summary)
        summaries.append(summary)

    if cfg.train.scope == "global":  # one network for the universe: one job, here
        cfg = for_engine(cfg)[0]  # torch's threads, as for the per-ticker jobs
        prices, code = fetch_universe(cfg)
        for summary in run_global_backtest(cfg, prices, experiment_id, tags={"job_id": job_id}):
            on_summary(summary)
            print(summary.text, flush=True)
    else:
        code = priced_job(cfg, run_backtest, experiment_id, on_summary=on_summary, job_id=job_id)
    days = "the walk-forward folds' test days, pooled"
    report_summary(cfg, summaries, experiment_id, command="backtest", days=days, job_id=job_id)
    print(f"the runs: {runs_url(experiment_id)} (`make ui` serves them)")
    print(f"reports: {cfg.paths.reports_dir / 'backtest'}")
    return code


def retrain(cfg: Config, tracking_uri: str | None = None) -> int:
    """Challengers against the champions, one retrain job at a time (a file lock).

    With ``--scope global`` one challenger for the universe against the global champion
    (``global_retrain.py``); every ticker must load, or nothing is trained.
    """
    if cfg.train.scope == "global":
        from pipeline.data.sources import load_prices
        from pipeline.jobs.global_retrain import run_global_retrain

        experiment_id = prepare(cfg, tracking_uri)
        with exclusive_lock(cfg.paths.retrain_lock):
            cfg = for_engine(cfg)[0]  # torch's threads, as for the per-ticker jobs
            # A universe short of a ticker would change the champion's: the first failure stops.
            prices = {t: load_prices(t, cfg.data, cfg.paths) for t in tickers_for(cfg)}
            tags = {"job_id": new_job_id()}
            for summary in run_global_retrain(cfg, prices, experiment_id, tags=tags):
                print(summary.text, flush=True)
        return 0
    experiment_id = prepare(cfg, tracking_uri)
    with exclusive_lock(cfg.paths.retrain_lock):
        return priced_job(cfg, run_retrain, experiment_id)


def predict(cfg: Config, tracking_uri: str | None = None) -> int:
    """Each ticker's champion forecast for the next session, with its intervals, stored.

    With ``--scope global`` the global champion answers for any ticker (printed, not stored:
    ``forecast --scope global`` stores).
    """
    if cfg.train.scope == "global":
        from pipeline.data.sources import load_prices
        from pipeline.jobs.global_model import run_global_predict
        from pipeline.tracking.store import configure

        configure(tracking_uri)
        return each_ticker(
            cfg,
            lambda ticker: run_global_predict(
                cfg, ticker, load_prices(ticker, cfg.data, cfg.paths)
            ),
        )
    return forecast(cfg, tracking_uri)


def forecast(cfg: Config, tracking_uri: str | None = None) -> int:
    """The nightly job: refresh each ticker's prices, forecast with its champion, store, print.

    The store is opened (and its schema checked) once, before any ticker. With ``--scope
    global`` the global champion forecasts every ticker (``global_store.py``).
    """
    from pipeline.data.sources import load_prices
    from pipeline.jobs.forecast import run_forecast
    from pipeline.store.forecasts import ForecastStore
    from pipeline.tracking.store import configure

    configure(tracking_uri)
    if cfg.train.scope == "global":  # the global champion, loaded once, for every ticker
        from pipeline.jobs.global_model import GLOBAL
        from pipeline.jobs.global_store import run_global_forecast
        from pipeline.tracking.registry import load_champion

        champion = load_champion(GLOBAL)
        with ForecastStore(cfg.store.url) as store:
            return each_ticker(
                cfg,
                lambda ticker: run_global_forecast(
                    cfg, ticker, load_prices(ticker, cfg.data, cfg.paths), store, champion
                ),
            )
    with ForecastStore(cfg.store.url) as store:
        return each_ticker(
            cfg,
            lambda ticker: run_forecast(
                cfg, ticker, load_prices(ticker, cfg.data, cfg.paths), store
            ),
        )


def score(cfg: Config, tracking_uri: str | None = None) -> int:
    """Score every ticker's stored forecasts against realised Closes; a monitoring run each
    (``--scope global``: the global champion's forecasts, tagged scope=global)."""
    if cfg.train.scope == "global":
        from pipeline.jobs.global_store import run_global_score

        return _stored_job(cfg, tracking_uri, run_global_score)
    from pipeline.jobs.score import run_score

    return _stored_job(cfg, tracking_uri, run_score)


def backfill(cfg: Config, tracking_uri: str | None = None) -> int:
    """Replay the nightly forecast over past sessions with each champion (``--scope global``:
    the global one), then score."""
    if cfg.train.scope == "global":  # the global champion, loaded once, for every ticker
        from pipeline.jobs.global_model import GLOBAL
        from pipeline.jobs.global_store import run_global_backfill
        from pipeline.tracking import store
        from pipeline.tracking.registry import load_champion

        store.configure(tracking_uri)
        champion = load_champion(GLOBAL)
        return _stored_job(cfg, tracking_uri, partial(run_global_backfill, champion=champion))
    from pipeline.jobs.backfill import run_backfill

    return _stored_job(cfg, tracking_uri, run_backfill)


def _stored_job(cfg: Config, tracking_uri: str | None, job) -> int:
    """Run ``job(cfg, ticker, prices, store, experiment_id, tags=...)`` for each ticker,
    on one store opened (and its schema checked) before any ticker."""
    from pipeline.data.sources import load_prices
    from pipeline.store.forecasts import ForecastStore

    experiment_id = prepare(cfg, tracking_uri)
    tags = {"job_id": new_job_id()}
    with ForecastStore(cfg.store.url) as store:
        return each_ticker(
            cfg,
            lambda ticker: job(
                cfg, ticker, load_prices(ticker, cfg.data, cfg.paths), store, experiment_id,
                tags=tags,
            ),
        )  # fmt: skip


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
    per_ticker_only(cfg, "sweep")
    from pipeline.jobs.sweep import check_sweep, run_sweep  # imports Ray

    check_sweep(cfg)
    return run_sweep(cfg, prepare(cfg, tracking_uri))
