"""A plain (non-editable) install carries the sample and runs from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # builds the wheel and installs it in a fresh venv
def test_the_wheel_ships_the_sample_and_fetch_runs_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(REPO)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("stockcast-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipeline/data/sample/AAPL.csv" in names and "pipeline/data/sample/MSFT.csv" in names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Only the installed copy is importable: the checkout is neither the folder nor on the path.
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    done = subprocess.run(
        [sys.executable, "-c",
         "import pipeline, sys; from pipeline.cli import main; print(pipeline.__file__); "
         "sys.exit(main(['fetch', '--tickers', 'MSFT']))"],
        cwd=elsewhere, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(str(target))
    assert "MSFT: 3270 days, 2000-03-01 to 2013-03-01" in done.stdout
