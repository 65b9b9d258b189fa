"""The tracking store and the experiment, owned by the driver.

Runs go to MLflow's default store (``sqlite:///mlflow.db`` with artifacts under
``./mlruns/`` in the working folder) unless ``MLFLOW_TRACKING_URI`` or
``--tracking-uri`` says otherwise, so plain ``mlflow ui`` in the project folder
shows them. The driver creates the experiment once and hands its id to every
job, so no job (and no worker on another machine) calls ``set_experiment``,
which races when several processes create the same experiment.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.errors import StockcastError, StorageError, TrackingUnavailable
from pipeline.storage import as_storage_error as as_file_error

# Tells MLflow's UI that the experiment trains models, so it opens on the runs
# rather than on the GenAI overview.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
_DB_FAILURES = ("readonly database", "unable to open database file", "disk is full")
# MLflow's HTTP client retries a failed call 7 times with a backoff factor of 2 (about four
# minutes a call): a night of many tickers against a server that is down would take hours to
# fail. Bounded here (about 30 s a call, 1+2+4+8+16 s); MLflow's own variables override.
HTTP_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def configure(tracking_uri: str | None = None, registry_uri: str | None = None) -> str:
    """Point MLflow at ``tracking_uri`` and ``registry_uri`` (None keeps its default or
    environment); return the tracking URI."""
    # MLflow's own download bars would interleave with ours.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name, value in HTTP_RETRIES.items():
        os.environ.setdefault(name, value)
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    if registry_uri:
        mlflow.set_registry_uri(registry_uri)
    return mlflow.get_tracking_uri()


def tracking_uri() -> str:
    """The tracking URI in effect."""
    return mlflow.get_tracking_uri()


def registry_uri() -> str:
    """The model registry's URI in effect (the tracking URI unless MLFLOW_REGISTRY_URI says)."""
    return mlflow.get_registry_uri()


def is_local(uri: str) -> bool:
    """Whether ``uri`` is a file on this machine (SQLite, a folder), out of other nodes' reach."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def absolute_uri(uri: str) -> str:
    """A ``sqlite:///relative.db`` URI made absolute (other URIs unchanged), for other folders."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + str(Path(uri[len(prefix) :]).absolute())
    return uri


def prepare_experiment(name: str) -> str:
    """Create the experiment if needed (tagged as model training); return its id."""
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name, tags=EXPERIMENT_KIND)
        except MlflowException as exc:  # another driver created it meanwhile
            found = client.get_experiment_by_name(name)
            if found is None:
                raise exc from None
    for key, value in EXPERIMENT_KIND.items():
        if found.tags.get(key) != value:
            client.set_experiment_tag(found.experiment_id, key, value)
    return found.experiment_id


def prepare_registry() -> None:
    """Create the model registry's tables now, in the driver, if its store is new.

    MLflow's registry store creates a missing schema without a lock: Ray tasks
    registering their first models at once into a new SQLite file (a registry
    URI apart from the tracking store) race in that migration and fail.
    """
    MlflowClient().search_registered_models(max_results=1)


def unreachable(exc: BaseException) -> TrackingUnavailable | None:
    """TrackingUnavailable if ``exc`` is MLflow's HTTP client giving up on the server (refused,
    timed out, its retries spent); None for anything else, an answer from the server included.
    """
    text = str(exc)
    if isinstance(exc, MlflowException) and "API request to" in text and "failed" in text:
        retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "?")
        return TrackingUnavailable(
            f"the tracking server {mlflow.get_tracking_uri()} does not answer (after {retries} "
            "retries; MLFLOW_HTTP_REQUEST_MAX_RETRIES and _BACKOFF_FACTOR set them): start it, "
            "or point MLFLOW_TRACKING_URI at one that runs"
        )
    return None


def as_storage_error(exc: BaseException) -> StockcastError | None:
    """A StorageError for a file or MLflow store that cannot be written, TrackingUnavailable
    for a tracking server that does not answer; else None.

    Covers what MLflow raises about its own paths (``mlruns/``, ``mlflow.db``)
    as well as this project's files.
    """
    found = as_file_error(exc) or unreachable(exc)
    if found is not None:
        return found
    if isinstance(exc, MlflowException) and any(k in str(exc) for k in _DB_FAILURES):
        why = "the disk is full" if "disk is full" in str(exc) else "it is read-only or missing"
        return StorageError(f"cannot write the MLflow store {mlflow.get_tracking_uri()}: {why}")
    cause = exc.__cause__ or exc.__context__
    return as_storage_error(cause) if cause is not None and cause is not exc else None
