"""Trained MLflow stores built once a session and a copy of one for each test that uses it."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import mlflow
import pytest


def train_store(folder: Path, argv: list[str]) -> Path:
    """Run the CLI's ``argv`` in ``folder``, logging to an MLflow store of the folder's own
    (``mlflow.db``, ``mlruns/``); return the folder. MLflow and the working folder are left as
    they were, so that a session-scoped fixture reaches no other test."""
    from pipeline.cli import main

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.chdir(folder)
        env.setenv("MLFLOW_TRACKING_URI", uri)
        env.setenv("MLFLOW_REGISTRY_URI", uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            assert main(argv) == 0
        finally:
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)
    return folder


def copy_store(trained: Path, folder: Path) -> None:
    """Make ``folder``'s ``mlflow.db`` a copy of ``trained``'s, whose new runs keep their
    artifacts in ``folder/mlruns/``: a test may then log, register and promote without touching
    the shared store. The trained runs' and models' artifacts are read where they were made."""
    shutil.copyfile(trained / "mlflow.db", folder / "mlflow.db")
    # A new run's artifacts go under its experiment's artifact location.
    with contextlib.closing(sqlite3.connect(folder / "mlflow.db")) as db, db:
        db.execute(
            "UPDATE experiments SET artifact_location = ? || '/' || experiment_id",
            (str(folder / "mlruns"),),
        )
