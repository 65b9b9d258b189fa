"""The deployable model: the Forecaster (network + scalers + calibrations) and its MLflow pyfunc
entry."""

from pathlib import Path


def pyfunc_entry_path() -> Path:
    """The file MLflow runs to build the pyfunc model (models from code)."""
    return Path(__file__).with_name("pyfunc_entry.py")
