"""Command line: ``python -m pipeline <command>`` or ``stockcast <command>``.

Parse the options into a Config, run the command, map expected failures to
exit codes (see the README): one ``error:`` line, no traceback unless
``--debug``. Every config option is generated from the config's own fields
(``config.settings``). Heavy libraries are imported only once the options have
been checked, so a bad option fails at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import traceback
import typing
from collections.abc import Callable
from pathlib import Path

from pipeline.config import Config, load_config_file, parse_tickers, parse_value, settings
from pipeline.errors import ConfigError, Interrupted, StockcastError
from pipeline.storage import as_storage_error

log = logging.getLogger("stockcast")

EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM, e.g. from a scheduler

COMMAND_HELP = {
    "fetch": "load and validate prices (sample, yfinance or csv)",
    "features": "split, fit scalers on training rows, save the features",
    "train": "train the RNN (logged to MLflow)",
    "evaluate": "score the RNN and baselines on the test days; log metrics, plot and model",
    "all": "fetch, features, train and evaluate every ticker",
    "backtest": "walk-forward backtest of the RNN against every baseline, with DM tests",
    "retrain": "refresh data, train a challenger, promote it if it beats the champion",
    "predict": "forecast the next Close with the champion model",
    "sweep": "search hyper-parameters with Ray Tune and Optuna; score the best on the test days",
}


# --------------------------------------------------------------------------- options


def _common_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--tickers", "--ticker", help="symbols separated by commas, or @FILE of symbols "
        "(default AAPL,MSFT)"
    )  # fmt: skip
    p.add_argument("--config", type=Path, help="JSON file of settings ('section.field': value)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLflow's, ./mlflow.db)")
    p.add_argument("--debug", action="store_true", help="show tracebacks of expected errors")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for key, fld, kind in settings():
        if not fld.metadata.get("cli", True):
            continue
        section = key.rpartition(".")[0] or "general"
        group = groups.setdefault(section, p.add_argument_group(section))
        _add_option(group, key, fld, kind)
    return p


def _add_option(group, key: str, fld: dataclasses.Field, kind: type) -> None:
    """One option from one config field: name, type, choices, and the help with its default."""
    flag = fld.metadata["flag"] or "--" + fld.name.replace("_", "-")
    shown = ",".join(map(str, fld.default)) if isinstance(fld.default, tuple) else fld.default
    options: dict = {
        "dest": key,
        "default": None,
        "help": f"{fld.metadata['help']} (default {shown})",
    }
    if kind is bool:
        group.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
    elif fld.metadata["choices"]:
        group.add_argument(flag, choices=fld.metadata["choices"], **options)
    else:
        group.add_argument(flag, type=_parser(kind, flag), metavar=fld.name.upper(), **options)


def _parser(kind: type, flag: str) -> Callable[[str], object]:
    """argparse's ``type``: the field's own parsing, its error as argparse's (exit 2)."""

    def parse(text: str) -> object:
        try:
            return parse_value(text, kind, flag)
        except ConfigError as exc:  # argparse names the option itself
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag}: ")) from None

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option gives one line (and exit 2), not the whole usage."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message} (`{self.prog} --help` lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage or job."""
    parser = _Parser(
        prog="stockcast", description="Forecast daily closing prices; track every run in MLflow."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    common = _common_options()
    for name, help_text in COMMAND_HELP.items():
        sub.add_parser(name, parents=[common], help=help_text, description=help_text)
    return parser


def given_settings(args: argparse.Namespace) -> dict[str, object]:
    """The config settings given on the command line, as ``{"section.field": value}``."""
    keys = {key for key, fld, _ in settings() if fld.metadata.get("cli", True)}
    return {k: v for k, v in vars(args).items() if k in keys and v is not None}


def config_from_args(args: argparse.Namespace) -> Config:
    """The Config: the defaults, then ``--config FILE``, then the options given."""
    base = Config() if args.config is None else load_config_file(args.config, Config())
    values = given_settings(args)
    if args.tickers is not None:
        values["tickers"] = parse_tickers(args.tickers)
    if "data.csv_path" in values:
        source = values.setdefault("data.source", "csv")
        if source != "csv":
            raise ConfigError(f"--data is a CSV file for --source csv, not for --source {source}")
    return base.with_values(values)


# --------------------------------------------------------------------------- commands


def cmd_fetch(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.jobs import stages
    from pipeline.jobs.common import Summary
    from pipeline.jobs.driver import each_ticker

    def one(ticker: str) -> Summary:
        prices = stages.fetch_stage(cfg, ticker)
        first, last = prices.index[0].date(), prices.index[-1].date()
        return Summary(ticker, f"{ticker}: {len(prices)} days, {first} to {last}")

    return each_ticker(cfg, one)


def cmd_features(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.jobs import stages
    from pipeline.jobs.common import Summary
    from pipeline.jobs.driver import each_ticker

    def one(ticker: str) -> Summary:
        n_train, n_val, n_test = stages.features_stage(cfg, ticker).split.sizes()
        text = f"{ticker}: windows train {n_train}, validation {n_val}, test {n_test}"
        return Summary(ticker, text)

    return each_ticker(cfg, one)


def cmd_train(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.jobs import stages
    from pipeline.jobs.driver import each_ticker
    from pipeline.tracking import runs

    experiment_id = _prepare(cfg, args)

    def one(ticker: str) -> None:
        features = stages.saved_features(cfg, ticker)
        run = runs.run(cfg, ticker, experiment_id=experiment_id, kind="train", command="train")
        with run as active:
            stages.train_stage(cfg, ticker, features, active.info.run_id)

    return each_ticker(cfg, one)


def cmd_evaluate(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.jobs import promotion, stages
    from pipeline.jobs.all import registered_text
    from pipeline.jobs.common import Summary
    from pipeline.jobs.driver import each_ticker
    from pipeline.serving.forecaster import Forecaster
    from pipeline.tracking import runs

    experiment_id = _prepare(cfg, args)

    def one(ticker: str) -> Summary:
        run_id = stages.saved_run_id(cfg, ticker)
        features = stages.saved_features(cfg, ticker)
        prices = stages.saved_prices(cfg, ticker)
        forecaster = Forecaster.load(cfg.paths.processed_dir(ticker) / stages.MODEL_DIR)
        run = runs.run(cfg, ticker, experiment_id=experiment_id, kind="train", run_id=run_id)
        with run:
            evaluation = stages.evaluate_stage(cfg, features, forecaster, prices)
            model_uri = stages.log_stage(ticker, evaluation, forecaster, prices)
            decision = promotion.first_champion(ticker)
            version = promotion.register(model_uri, ticker, run_id, "all", decision)
        text = stages.evaluation_text(ticker, features, evaluation)
        return Summary(ticker, f"{text}\n{registered_text(ticker, version, decision.promote)}")

    return each_ticker(cfg, one)


def cmd_all(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.jobs.all import run_all
    from pipeline.jobs.common import StageClock
    from pipeline.jobs.driver import priced_job

    clock = StageClock()
    with clock.stage("mlflow"):
        experiment_id = _prepare(cfg, args)
    code = priced_job(cfg, run_all, experiment_id, clock)
    total = sum(clock.seconds.values())
    parts = ", ".join(f"{k} {v:.1f}s" for k, v in clock.seconds.items())
    print(f"time by stage: {parts} (total {total:.1f}s)")
    return code


def cmd_backtest(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.jobs.backtest import run_backtest, save_report
    from pipeline.jobs.driver import priced_job

    experiment_id = _prepare(cfg, args)
    code = priced_job(cfg, run_backtest, experiment_id, on_summary=lambda s: save_report(cfg, s))
    print(f"reports: {cfg.paths.reports_dir / 'backtest'}")
    return code


def cmd_retrain(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.jobs.driver import priced_job
    from pipeline.jobs.lock import exclusive_lock
    from pipeline.jobs.retrain import run_retrain

    if "data.source" not in given_settings(args):  # the job's default is live data
        cfg = cfg.replace(data=dataclasses.replace(cfg.data, source="yfinance"))
    experiment_id = _prepare(cfg, args)
    with exclusive_lock(cfg.paths.retrain_lock):
        return priced_job(cfg, run_retrain, experiment_id)


def cmd_predict(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.data.sources import load_prices
    from pipeline.jobs.driver import each_ticker
    from pipeline.jobs.predict import run_predict
    from pipeline.tracking.store import configure

    configure(args.tracking_uri)
    return each_ticker(
        cfg, lambda ticker: run_predict(cfg, ticker, load_prices(ticker, cfg.data, cfg.paths))
    )


def cmd_sweep(cfg: Config, args: argparse.Namespace) -> int:
    from pipeline.jobs.sweep import check_sweep, run_sweep

    check_sweep(cfg)
    return run_sweep(cfg, _prepare(cfg, args))


def _prepare(cfg: Config, args: argparse.Namespace) -> str:
    """Check the device, point MLflow at its store and create the experiment once."""
    from pipeline.models.training import pick_device
    from pipeline.tracking.store import configure, prepare_experiment, prepare_registry

    pick_device(cfg.runtime.device)  # a missing GPU is an option error, before any work
    configure(args.tracking_uri)
    experiment_id = prepare_experiment(cfg.experiment)
    prepare_registry()
    return experiment_id


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], int]] = {
    "fetch": cmd_fetch,
    "features": cmd_features,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "all": cmd_all,
    "backtest": cmd_backtest,
    "retrain": cmd_retrain,
    "predict": cmd_predict,
    "sweep": cmd_sweep,
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


def _storage_error(exc: BaseException) -> StockcastError | None:
    if "mlflow" in sys.modules:  # MLflow's own store failures are recognised there
        from pipeline.tracking.store import as_storage_error as as_store_error

        return as_store_error(exc)
    return as_storage_error(exc)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the command, and turn expected failures into exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.debug)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cfg = config_from_args(args)
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
        storage = _storage_error(exc)
        if storage is None:
            raise  # a bug: keep the traceback
        if args.debug:
            traceback.print_exc()
        print(f"error: {storage}", file=sys.stderr)
        return storage.exit_code


_STOPPED = "any MLflow run in progress was marked KILLED; files already saved are intact"
