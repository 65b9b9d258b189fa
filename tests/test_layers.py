"""`make lint` enforces the layers: MLflow, matplotlib and Ray only where they belong."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")


def _banned(path: str, source: str) -> bool:
    """Whether ruff's TID251 flags ``source`` as if it were the file at ``path``."""
    done = subprocess.run(
        [str(RUFF), "check", "--select", "TID251", "--stdin-filename", path, "-"],
        input=source, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    return "TID251" in done.stdout


@pytest.mark.parametrize(
    ("path", "source", "banned"),
    [
        ("pipeline/models/training.py", "import mlflow\n", True),
        ("pipeline/jobs/all.py", "from mlflow.tracking import MlflowClient\n", True),
        ("pipeline/evaluation/evaluate.py", "import matplotlib.pyplot as plt\n", True),
        ("pipeline/jobs/all.py", "import ray\n", True),
        ("pipeline/tracking/lifecycle.py", "import mlflow\n", False),
        ("pipeline/tracking/lifecycle.py", "from matplotlib.figure import Figure\n", True),
        ("pipeline/tracking/plots.py", "from matplotlib.figure import Figure\n", False),
        ("pipeline/serving/pyfunc_model.py", "import mlflow.pyfunc\n", False),
        ("pipeline/serving/forecaster.py", "import mlflow\n", True),
        ("pipeline/runtime/executors.py", "import ray\n", False),
        ("pipeline/jobs/tune.py", "from ray import tune\n", False),
        ("pipeline/jobs/sweep.py", "from ray import tune\n", True),
        ("pipeline/evaluation/objective.py", "import ray\n", True),
    ],
)
def test_imports_are_allowed_only_in_their_layer(path, source, banned):
    assert _banned(path, source) is banned


def test_the_tree_keeps_the_layers():
    done = subprocess.run(
        [str(RUFF), "check", "--select", "TID251", "pipeline"], capture_output=True, text=True,
        cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter's contracts (pyproject.toml) on the ``pipeline`` package under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS)], cwd=root, env=env, capture_output=True, text=True
    )  # fmt: skip


def test_the_tree_keeps_the_import_contracts():
    done = _lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("serving/forecaster.py", "import arch", "The served model imports neither"),
        ("serving/forecaster.py", "from pipeline.metrics import intervals", "The served model"),
        ("core/features.py", "from pipeline.models import rnn", "Layers"),
        ("metrics/point.py", "from pipeline.evaluation import tables", "Layers"),
        ("models/calibration.py", "from pipeline.models import rnn", "models/ has no import cycle"),
    ],
)
def test_an_import_against_the_layers_breaks_the_lint(tmp_path, module, line, contract):
    shutil.copytree(REPO / "pipeline", tmp_path / "pipeline", ignore=shutil.ignore_patterns(
        "__pycache__", "sample"))  # fmt: skip
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "pipeline" / module
    target.write_text(f"{target.read_text()}\n{line}  # noqa\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    broken = [s for s in done.stdout.split("\n") if s.endswith("BROKEN")]
    assert any(s.startswith(contract) for s in broken), done.stdout
