"""The logged model stands alone: a fresh environment built from its own requirements serves it.

uv builds the environment each time, in seconds from its cache (hard links, where pip would
copy ~6 GB of torch); only the first run downloads the requirements (~6 GB, about a minute).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from helpers import make_prices

from pipeline.config import FeatureConfig, IntervalConfig, ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.features import build_features
from pipeline.models.rnn import train_forecaster
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking.models import log_model
from pipeline.tracking.served_code import requirements

pytestmark = pytest.mark.slow  # builds a uv environment from the model's requirements

REPO = Path(__file__).resolve().parents[2]
OHLC = ["Open", "High", "Low", "Close"]

# Run by the fresh environment's Python in a folder outside the project: the answers as JSON.
PREDICT = """
import importlib.util, json, sys
import mlflow.pyfunc, pandas as pd
assert importlib.util.find_spec("pipeline") is None, "pipeline is importable without the model"
model = mlflow.pyfunc.load_model(sys.argv[1])
import pipeline
inputs = [pd.DataFrame(**rows) for rows in json.loads(open(sys.argv[2]).read())]
answers = [
    model.predict(rows.assign(Date=pd.to_datetime(rows["Date"])))
    .assign(target_date=lambda a: a["target_date"].dt.strftime("%Y-%m-%d"))
    .to_dict(orient="split")
    for rows in inputs
]
print(json.dumps({"pipeline": pipeline.__file__, "answers": answers}))
"""


@pytest.fixture(scope="module")
def forecaster() -> Forecaster:
    """A forecaster with two interval levels, trained for seconds."""
    features = build_features(make_prices(300), FeatureConfig(window=10))
    return train_forecaster(
        features,
        ModelConfig(hidden_size=8),
        TrainConfig(epochs=2),
        IntervalConfig(levels=(0.8, 0.9), scale_epochs=2),
        RuntimeConfig(device="cpu", progress=False),
    ).forecaster


def test_a_fresh_environment_from_the_models_requirements_serves_it(
    mlflow_store, tmp_path, forecaster
):
    prices = make_prices(300)
    with mlflow.start_run():
        uri = log_model(forecaster, prices.tail(30)).model_uri
    model_dir = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model")))
    flavor = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["code"] == "code"
    assert (model_dir / "code" / "pipeline" / "serving" / "forecaster.py").is_file()
    assert not list((model_dir / "code").rglob("__pycache__"))
    assert (model_dir / "requirements.txt").read_text().split() == list(requirements())

    # Five inputs of 40 dated rows; the answer to each is the next 5 Closes, their bounds and
    # their dates (exchange_calendars, one of the model's requirements).
    assert any(r.startswith("exchange_calendars==") for r in requirements())
    inputs = [prices.iloc[start : start + 40][OHLC].reset_index() for start in range(200, 260, 12)]
    in_project = [_plain(forecaster.answer(rows)) for rows in inputs]
    loaded = mlflow.pyfunc.load_model(str(model_dir))
    assert [_plain(loaded.predict(rows)) for rows in inputs] == in_project
    assert [len(answer["data"]) for answer in in_project] == [5] * 5

    python = _fresh_environment(model_dir / "requirements.txt", tmp_path / "env")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inputs_file = elsewhere / "inputs.json"
    # Python's json writes floats exactly (repr), so both sides read the same prices.
    dated = [rows.assign(Date=rows["Date"].dt.strftime("%Y-%m-%d")) for rows in inputs]
    inputs_file.write_text(json.dumps([rows.to_dict(orient="split") for rows in dated]))
    done = subprocess.run(
        [str(python), "-c", PREDICT, str(model_dir), str(inputs_file)],
        cwd=elsewhere, env=_clean_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.splitlines()[-1])
    assert Path(served["pipeline"]).is_relative_to(model_dir / "code")
    assert served["answers"] == in_project


def _plain(answer: pd.DataFrame) -> dict:
    """An answer as plain JSON values: its target dates as text, its floats exact."""
    dates = answer["target_date"].dt.strftime("%Y-%m-%d")
    return answer.assign(target_date=dates).to_dict(orient="split")


def _fresh_environment(listed: Path, folder: Path) -> Path:
    """A new virtual environment built from the requirements file ``listed`` alone: its Python."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is missing: pip install -e '.[dev]' installs it", pytrace=False)
    python = folder / "bin" / "python"
    install = [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(listed)]
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(folder)])
    # From the cache alone when it holds every wheel (no network), else from the index.
    if _run([*install, "--offline"], check=False).returncode != 0:
        _run(install)
    return python


def _run(command: list[str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=_clean_env(), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0 or not check, f"{' '.join(command)}:\n{done.stderr[-3000:]}"
    return done


def _clean_env() -> dict[str, str]:
    """This process's environment without what would point Python at the project."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "UV_PYTHON"}
    return {k: v for k, v in os.environ.items() if k not in drop}
