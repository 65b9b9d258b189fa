"""The MLflow model registry: one registered model per group, ``champion`` alias in use.

Registered models are named ``stockcast-<GROUP>``: a ticker's own
``stockcast-<TICKER>``, the universe's ``stockcast-global``. The version that answers
forecasts carries the alias ``champion`` (aliases replace the deprecated
stages). Moving the alias is a single registry call made only after every
other step has succeeded, so a failure anywhere leaves the old champion.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.errors import RegistryError
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking.store import unreachable

CHAMPION = "champion"


def model_name(ticker: str) -> str:
    """The registered model's name for ``ticker``."""
    return f"stockcast-{ticker}"


def champion_uri(ticker: str) -> str:
    """``models:/stockcast-<TICKER>@champion``."""
    return f"models:/{model_name(ticker)}@{CHAMPION}"


@dataclass(frozen=True)
class Champion:
    version: str
    forecaster: Forecaster
    run_id: str
    name: str  # the registered model: stockcast-<TICKER>, or stockcast-global


def register(model_uri: str, ticker: str, tags: dict[str, str] | None = None) -> str:
    """Register a logged model as a new version of ``stockcast-<TICKER>``; return the version."""
    version = mlflow.register_model(model_uri, model_name(ticker), tags=tags)
    return str(version.version)


def version_with_tag(ticker: str, key: str, value: str) -> str | None:
    """The version of ``stockcast-<TICKER>`` tagged ``key=value``, if one was registered."""
    found = MlflowClient().search_model_versions(
        f"name='{model_name(ticker)}' and tags.{key}='{value}'"
    )
    return str(found[0].version) if found else None


def champion_version(ticker: str) -> str | None:
    """The version the ``champion`` alias points at, or None if there is none yet.

    A registry that does not answer is TrackingUnavailable, not "no champion".
    """
    client = MlflowClient()
    try:
        return str(client.get_model_version_by_alias(model_name(ticker), CHAMPION).version)
    except MlflowException as exc:
        down = unreachable(exc)
        if down is not None:
            raise down from exc
        return None


def load_champion(ticker: str) -> Champion:
    """Load the champion's forecaster, or raise RegistryError if there is none."""
    version = champion_version(ticker)
    if version is None:
        raise RegistryError(
            f"{ticker}: no champion model in the registry ({model_name(ticker)}@{CHAMPION}); "
            "run `make all` or `make retrain` first"
        )
    model = mlflow.pyfunc.load_model(champion_uri(ticker))
    run_id = MlflowClient().get_model_version(model_name(ticker), version).run_id
    forecaster = model.unwrap_python_model().forecaster
    return Champion(version, forecaster, run_id, model_name(ticker))


def promote(ticker: str, version: str) -> None:
    """Point ``champion`` at ``version`` (one registry call)."""
    MlflowClient().set_registered_model_alias(model_name(ticker), CHAMPION, version)


def tag_version(ticker: str, version: str, tags: dict[str, str]) -> None:
    """Record facts (scores, decision) on a model version."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name(ticker), version, key, value)


def version_ticker_metrics(name: str, version: str, ticker: str) -> dict[str, float]:
    """``ticker``'s test-day scores as a model version's runs logged them: the metrics of the
    run that logged the version when it is the ticker's own run (``stockcast-<TICKER>``),
    else of the ticker's run nested under it (a model for many tickers); empty if none."""
    client = MlflowClient()
    run = client.get_run(client.get_model_version(model_name(name), version).run_id)
    if run.data.tags.get("ticker") == ticker:
        return dict(run.data.metrics)
    found = client.search_runs(
        [run.info.experiment_id],
        f"tags.mlflow.parentRunId = '{run.info.run_id}' and tags.ticker = '{ticker}'",
        max_results=1,
    )
    return dict(found[0].data.metrics) if found else {}
