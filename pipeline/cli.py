"""Command line: ``python -m pipeline <command>`` or ``stockcast <command>``.

Options are named like the Make variables (``--tickers``, ``--source``,
``--data``, ``--epochs``, ``--device``, ``--seed``). Expected failures print one
``error:`` line and exit with the code of their kind (see the README);
``--debug`` adds the traceback. Heavy libraries are imported only once the
options have been checked, so a bad option fails at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from pipeline.config import (
    BacktestConfig,
    Config,
    DataConfig,
    FeatureConfig,
    ModelConfig,
    Paths,
    TrainConfig,
    parse_tickers,
)
from pipeline.errors import (
    ConfigError,
    DataError,
    FetchError,
    Interrupted,
    RegistryError,
    StockcastError,
    TrainingError,
)
from pipeline.storage import as_storage_error

log = logging.getLogger("stockcast")

EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM, e.g. from a scheduler


def _common_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("data")
    g.add_argument("--tickers", "--ticker", help="symbols separated by commas (default AAPL,MSFT)")
    g.add_argument("--source", choices=("sample", "yfinance", "csv"), help="where prices come from")
    g.add_argument("--data", type=Path, help="CSV file for --source csv (its name is the ticker)")
    g.add_argument("--start", help="first day asked of yfinance on a cold cache (YYYY-MM-DD)")
    g.add_argument(
        "--data-dir", type=Path, help="folder for caches and stage outputs (default data)"
    )
    g = p.add_argument_group("features")
    g.add_argument("--window", type=int, help="days per input window (default 30)")
    g.add_argument("--train-frac", type=float, help="share of days for training (default 0.70)")
    g.add_argument("--val-frac", type=float, help="share of days for validation (default 0.15)")
    g = p.add_argument_group("model")
    g.add_argument("--cell", choices=("RNN", "GRU", "LSTM"), help="recurrent cell (default RNN)")
    g.add_argument("--num-layers", type=int, help="stacked layers (default 2)")
    g.add_argument("--hidden-size", type=int, help="units per layer and direction (default 64)")
    g.add_argument(
        "--bidirectional", action=argparse.BooleanOptionalAction, default=None, help="(default on)"
    )
    g.add_argument("--dropout", type=float, help="dropout between layers (default 0)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, help="most epochs (default 60; early stopping)")
    g.add_argument("--batch-size", type=int, help="windows per step (default 64)")
    g.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    g.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 10)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="(default auto)")
    g.add_argument("--seed", type=int, help="random seed (default 42)")
    g.add_argument("--amp", action="store_true", default=None, help="bfloat16 autocast on CUDA")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    g = p.add_argument_group("backtest")
    g.add_argument("--folds", type=int, help="walk-forward folds (default 5)")
    g.add_argument("--test-share", type=float, help="later share of days tested (default 0.30)")
    g = p.add_argument_group("retrain")
    g.add_argument(
        "--holdout", type=int, help="recent days that score challenger and champion (60)"
    )
    g = p.add_argument_group("tracking")
    g.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLflow's, ./mlflow.db)")
    g.add_argument("--experiment", help="MLflow experiment name (default stockcast)")
    p.add_argument("--debug", action="store_true", help="show tracebacks of expected errors")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage or job."""
    parser = argparse.ArgumentParser(
        prog="stockcast", description="Forecast daily closing prices; track every run in MLflow."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    common = _common_options()
    for name, help_text in COMMAND_HELP.items():
        sub.add_parser(name, parents=[common], help=help_text, description=help_text)
    return parser


COMMAND_HELP = {
    "fetch": "load and validate prices (sample, yfinance or csv)",
    "features": "split, fit scalers on training rows, save the features",
    "train": "train the RNN (logged to MLflow)",
    "evaluate": "score the RNN and baselines on the test days; log metrics, plot and model",
    "all": "fetch, features, train and evaluate every ticker",
    "backtest": "walk-forward backtest of the RNN against every baseline, with DM tests",
    "retrain": "refresh data, train a challenger, promote it if it beats the champion",
    "predict": "forecast the next Close with the champion model",
}


def config_from_args(args: argparse.Namespace) -> Config:
    """Build the Config: the dataclass defaults, overridden by the options given."""

    def pick(section, **values):
        return dataclasses.replace(section, **{k: v for k, v in values.items() if v is not None})

    base = Config()
    tickers = parse_tickers(args.tickers) if args.tickers is not None else base.tickers
    source = args.source or ("csv" if args.data is not None else base.data.source)
    if args.data is not None and source != "csv":
        raise ConfigError(f"--data is a CSV file for --source csv, not for --source {source}")
    return Config(
        tickers=tickers,
        data=pick(DataConfig(), source=source, csv_path=args.data, start=args.start),
        features=pick(
            FeatureConfig(), window=args.window, train_frac=args.train_frac, val_frac=args.val_frac
        ),
        model=pick(
            ModelConfig(),
            cell=args.cell,
            num_layers=args.num_layers,
            hidden_size=args.hidden_size,
            bidirectional=args.bidirectional,
            dropout=args.dropout,
        ),
        train=pick(
            TrainConfig(),
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            patience=args.patience,
            device=args.device,
            seed=args.seed,
            amp=args.amp,
            progress=False if args.no_progress else None,
        ),
        backtest=pick(BacktestConfig(), folds=args.folds, test_share=args.test_share),
        paths=pick(Paths(), data_dir=args.data_dir),
        experiment=args.experiment or base.experiment,
    )


# --------------------------------------------------------------------------- commands


def cmd_fetch(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline import stages

    def one(ticker: str) -> None:
        prices = stages.fetch_stage(cfg, ticker)
        print(
            f"{ticker}: {len(prices)} days, {prices.index[0].date()} to {prices.index[-1].date()}"
        )

    return _each_ticker(cfg, one)


def cmd_features(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline import stages

    def one(ticker: str) -> None:
        f = stages.features_stage(cfg, ticker)
        n_train, n_val, n_test = f.split.sizes()
        print(f"{ticker}: windows train {n_train}, validation {n_val}, test {n_test}")

    return _each_ticker(cfg, one)


def cmd_train(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline import stages, tracking
    from pipeline.train import pick_device

    pick_device(cfg.train.device)  # a missing GPU is an option error, before any work

    def one(ticker: str) -> None:
        features = stages.saved_features(cfg, ticker)
        with tracking.run(cfg, ticker, kind="train") as active:
            stages.train_stage(cfg, ticker, features, active.info.run_id)

    return _each_ticker(cfg, one)


def cmd_evaluate(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline import stages, tracking
    from pipeline.forecaster import Forecaster

    def one(ticker: str) -> None:
        run_id = stages.saved_run_id(cfg, ticker)
        features = stages.saved_features(cfg, ticker)
        prices = stages.saved_prices(cfg, ticker)
        forecaster = Forecaster.load(cfg.paths.processed_dir(ticker) / stages.MODEL_DIR)
        with tracking.run(cfg, ticker, kind="train", run_id=run_id):
            evaluation = stages.evaluate_stage(cfg, features, forecaster, prices)
            model_uri = stages.log_stage(ticker, evaluation, forecaster, prices)
            version, promoted = stages.register_stage(ticker, model_uri, run_id)
        stages.print_evaluation(ticker, features, evaluation)
        stages.print_registered(ticker, version, promoted)

    return _each_ticker(cfg, one)


def cmd_all(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline import stages
    from pipeline.train import pick_device

    pick_device(cfg.train.device)
    clock = stages.StageClock()
    code = _each_ticker(cfg, lambda ticker: stages.run_ticker(cfg, ticker, clock))
    total = sum(clock.seconds.values())
    parts = ", ".join(f"{k} {v:.1f}s" for k, v in clock.seconds.items())
    print(f"time by stage: {parts} (total {total:.1f}s)")
    return code


def cmd_backtest(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline import stages
    from pipeline.train import pick_device

    pick_device(cfg.train.device)
    code = _each_ticker(cfg, lambda ticker: stages.backtest_ticker(cfg, ticker))
    print(f"reports: {cfg.paths.reports_dir / 'backtest'}")
    return code


def cmd_retrain(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline import stages
    from pipeline.retrain import HOLDOUT_DAYS, exclusive_lock
    from pipeline.train import pick_device

    if args.source is None and args.data is None:  # the job's default is live data
        cfg = cfg.replace(data=dataclasses.replace(cfg.data, source="yfinance"))
    holdout = HOLDOUT_DAYS if args.holdout is None else args.holdout
    if holdout < 1:
        raise ConfigError(f"--holdout must be at least 1 day, not {holdout}")
    pick_device(cfg.train.device)
    with exclusive_lock(cfg.paths.retrain_lock):
        return _each_ticker(cfg, lambda ticker: stages.retrain_ticker(cfg, ticker, holdout))


def cmd_predict(cfg: Config, args: argparse.Namespace) -> int:
    import pandas as pd

    from pipeline import registry
    from pipeline.fetch import load_prices

    def one(ticker: str) -> None:
        champion = registry.load_champion(ticker)
        prices = load_prices(ticker, cfg.data, cfg.paths)
        window = champion.forecaster.window
        forecast = champion.forecaster.forecast(prices.iloc[-window:])[-1]
        last_day = prices.index[-1]
        next_day = (last_day + pd.offsets.BDay(1)).date()
        print(
            f"{ticker}: forecast Close {forecast:.2f} for {next_day} "
            f"(last Close {prices['Close'].iloc[-1]:.2f} on {last_day.date()}; "
            f"model {registry.model_name(ticker)} version {champion.version}, champion)"
        )

    return _each_ticker(cfg, one)


def _each_ticker(cfg: Config, work: Callable[[str], object]) -> int:
    """Run ``work`` per ticker; a failure of one ticker is reported and the rest go on."""
    from pipeline.stages import tickers_for

    failed: list[StockcastError] = []
    for ticker in tickers_for(cfg):
        try:
            work(ticker)
        except (DataError, FetchError, TrainingError, RegistryError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(exc)
    if failed:
        if len(tickers_for(cfg)) > 1:
            print(
                f"error: {len(failed)} of {len(tickers_for(cfg))} tickers failed", file=sys.stderr
            )
        return failed[0].exit_code
    return 0


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], int]] = {
    "fetch": cmd_fetch,
    "features": cmd_features,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "all": cmd_all,
    "backtest": cmd_backtest,
    "retrain": cmd_retrain,
    "predict": cmd_predict,
}


# --------------------------------------------------------------------------- entry point


def _on_sigterm(signum: int, frame: object) -> None:
    raise Interrupted(f"signal {signum}")


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(lambda record: setattr(record, "levelname", record.levelname.lower()) or True)
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the command, and turn expected failures into exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.debug)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cfg = config_from_args(args)
        if args.tracking_uri:
            from pipeline import tracking

            tracking.configure(args.tracking_uri)
        return COMMANDS[args.command](cfg, args)
    except StockcastError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"interrupted: {_STOPPED}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Interrupted:
        print(f"terminated: {_STOPPED}", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as exc:
        storage = as_storage_error(exc)
        if storage is None:
            raise  # a bug: keep the traceback
        if args.debug:
            traceback.print_exc()
        print(f"error: {storage}", file=sys.stderr)
        return storage.exit_code


_STOPPED = "any MLflow run in progress was marked KILLED; files already saved are intact"
