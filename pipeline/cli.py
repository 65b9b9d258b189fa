"""Command line: ``python -m pipeline <command>`` or ``stockcast <command>``.

Parse the options into a Config, run the command, map expected failures to
exit codes (docs/cli.md, "Exit codes"): one ``error:`` line, no traceback unless
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
    "predict": "forecast the next Close with the champion model (stored in the forecast store)",
    "forecast": "the nightly job: refresh prices, forecast each ticker with its champion, store",
    "score": "score stored forecasts against realised Closes; a monitoring run per ticker",
    "backfill": "replay forecast and score over past sessions (as-of data only), champion as is",
    "sweep": "search hyper-parameters with Ray Tune and Optuna; score the best on the test days",
    "ui": "print the URL of the experiment's runs and serve MLflow's UI on 127.0.0.1",
}


# --------------------------------------------------------------------------- options

# The config sections whose options each command takes: its --help lists these and no
# others. ``train`` and ``evaluate`` take all of ``all``'s, since the run and the model
# record the whole config, which must be the one the features were built with.
_JOB = ("data", "features", "model", "train", "runtime", "intervals", "baselines", "cluster")
COMMAND_SECTIONS: dict[str, tuple[str, ...]] = {
    "fetch": ("data", "paths"),
    "features": ("data", "features", "cluster", "paths"),
    "train": (*_JOB, "paths"),
    "evaluate": (*_JOB, "paths"),
    "all": (*_JOB, "paths"),
    "backtest": (*_JOB, "backtest", "paths"),
    "retrain": (*_JOB[:6], "retrain", "store", "monitor", "cluster", "paths"),  # no baselines
    "predict": ("data", "store", "monitor", "cluster", "paths"),
    "forecast": ("data", "store", "monitor", "cluster", "paths"),
    "score": ("data", "store", "monitor", "cluster", "paths"),
    "backfill": ("data", "store", "monitor", "backfill", "cluster", "paths"),
    "sweep": (*_JOB, "sweep", "paths"),
    "ui": (),
}
# Commands that read or log an experiment's runs (--experiment, --tracking-uri); predict and
# forecast read the model registry (--tracking-uri).
TRACKED = frozenset(
    {"train", "evaluate", "all", "backtest", "retrain", "sweep", "ui", "score", "backfill"}
)
REGISTRY_ONLY = frozenset({"predict", "forecast"})


def _command_options(command: str) -> argparse.ArgumentParser:
    """The options of one command: the common ones and its config sections' settings."""
    p = argparse.ArgumentParser(add_help=False)
    if command != "ui":
        p.add_argument(
            "--tickers", "--ticker", help="symbols separated by commas, or @FILE of symbols "
            "(default AAPL,MSFT)"
        )  # fmt: skip
    p.add_argument("--config", type=Path, help="JSON file of settings ('section.field': value)")
    if command in TRACKED or command in REGISTRY_ONLY:
        p.add_argument(
            "--tracking-uri", help="MLflow tracking URI (default: MLflow's, ./mlflow.db)"
        )
    if command == "ui":
        p.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default 5000)")
    p.add_argument("--debug", action="store_true", help="show tracebacks of expected errors")
    sections = COMMAND_SECTIONS[command] + (("general",) if command in TRACKED else ())
    groups: dict[str, argparse._ArgumentGroup] = {}
    for key, fld, kind in settings():
        section = key.rpartition(".")[0] or "general"
        if not fld.metadata.get("cli", True) or section not in sections:
            continue
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

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """Options the command does not take name the command's own ``--help``."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            self.exit(2, f"error: unrecognized arguments: {' '.join(extra)} (`{prog} --help` "
                      "lists the options)\n")  # fmt: skip
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage or job."""
    parser = _Parser(
        prog="stockcast", description="Forecast daily closing prices; track every run in MLflow."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, help_text in COMMAND_HELP.items():
        options = _command_options(name)
        sub.add_parser(name, parents=[options], help=help_text, description=help_text)
    return parser


def given_settings(args: argparse.Namespace) -> dict[str, object]:
    """The config settings given on the command line, as ``{"section.field": value}``."""
    keys = {key for key, fld, _ in settings() if fld.metadata.get("cli", True)}
    return {k: v for k, v in vars(args).items() if k in keys and v is not None}


def config_from_args(args: argparse.Namespace) -> Config:
    """The Config: the defaults (the command's own first), ``--config FILE``, the options."""
    base = Config().with_values(COMMAND_DEFAULTS.get(args.command, {}))
    base = base if args.config is None else load_config_file(args.config, base)
    values = given_settings(args)
    if getattr(args, "tickers", None) is not None:
        values["tickers"] = parse_tickers(args.tickers)
    if "data.csv_path" in values:
        source = values.setdefault("data.source", "csv")
        if source != "csv":
            raise ConfigError(f"--data is a CSV file for --source csv, not for --source {source}")
    return base.with_values(values)


# --------------------------------------------------------------------------- commands

# Defaults of one command that differ from the config's; a --config file and the options
# given still win over them. The retrain job refreshes live data unless told otherwise.
COMMAND_DEFAULTS: dict[str, dict[str, object]] = {"retrain": {"data.source": "yfinance"}}

# The job each command runs (``jobs/commands.py``), imported only once the options are checked.
COMMANDS = {
    "fetch": "fetch",
    "features": "features",
    "train": "train",
    "evaluate": "evaluate",
    "all": "all_stages",
    "backtest": "backtest",
    "retrain": "retrain",
    "predict": "predict",
    "forecast": "forecast",
    "score": "score",
    "backfill": "backfill",
    "sweep": "sweep",
    "ui": "ui",
}


def run_command(command: str, cfg: Config, tracking_uri: str | None, **options: object) -> int:
    """Dispatch to the command's job (``options``: its own, not settings); its exit code."""
    from pipeline.jobs import commands

    return getattr(commands, COMMANDS[command])(cfg, tracking_uri, **options)


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
        options = {"port": args.port} if args.command == "ui" else {}
        return run_command(args.command, cfg, getattr(args, "tracking_uri", None), **options)
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
