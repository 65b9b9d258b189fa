"""Expected failures: each carries one line for the user and an exit code.

The CLI prints ``error: <message>`` for these, without a traceback unless
``--debug`` is given. Anything else is a bug and keeps its traceback.
The codes are listed in docs/cli.md ("Exit codes").
"""

from __future__ import annotations


class StockcastError(Exception):
    """Base of the failures a user can act on."""

    exit_code = 1


class ConfigError(StockcastError):
    """An option that cannot work; raised before any work starts."""

    exit_code = 2


class DataError(StockcastError):
    """Prices that are missing, malformed or too short."""

    exit_code = 3


class FetchError(StockcastError):
    """yfinance unreachable or rate-limited, and no usable cache."""

    exit_code = 4


class TrainingError(StockcastError):
    """Training diverged (NaN or infinite loss)."""

    exit_code = 5


class StorageError(StockcastError):
    """A folder or file that cannot be written (permissions, disk full)."""

    exit_code = 6


class LockedError(StockcastError):
    """Another retrain job holds the lock."""

    exit_code = 7


class RegistryError(StockcastError):
    """The model registry has no champion to answer with."""

    exit_code = 8


class StoreError(StockcastError):
    """The forecast store cannot be opened, or comes from a newer stockcast."""

    exit_code = 9


class TrackingUnavailable(StockcastError):
    """The MLflow tracking server (or its registry) does not answer, after bounded retries."""

    exit_code = 10


class Interrupted(BaseException):
    """Raised by the SIGTERM handler, so that a job stops like Ctrl-C (runs end KILLED)."""
