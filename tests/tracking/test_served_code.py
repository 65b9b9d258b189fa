"""The served model's code and requirements are read from its imports."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
import sklearn

from pipeline.tracking.served_code import (
    PACKAGE_DIR,
    copy_served_code,
    find_served_code,
    pinned_requirements,
    requirements,
    served_code,
)

# A package whose entry reaches some modules at import, one only inside a function, one by a
# relative import two levels up, and leaves one out.
FAKE = {
    "__init__.py": "import json\n",
    "entry.py": "from pkg.a import f\nimport numpy as np\n",
    "a.py": "from __future__ import annotations\nfrom . import b\n\n"
    "def f():\n    import pandas\n    from pkg.sub.c import g\n",
    "b.py": "import os.path\nx = 1\n",
    "sub/__init__.py": "",
    "sub/c.py": "from ..b import x\nimport torch.nn as nn\n",
    "unused.py": "import arch\n",
}


def _fake_package(root: Path) -> Path:
    for name, text in FAKE.items():
        (root / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / name).write_text(text)
    return root / "pkg"


def test_the_served_code_is_what_the_entry_imports_and_no_more(tmp_path):
    package = _fake_package(tmp_path)
    code = find_served_code(package / "entry.py", package)
    assert code.files == tuple(
        Path(p) for p in ("__init__.py", "a.py", "b.py", "entry.py", "sub/__init__.py", "sub/c.py")
    )
    assert code.imports == ("numpy", "pandas", "torch")


def test_requirements_are_the_installed_distributions_pinned():
    assert pinned_requirements(["sklearn", "numpy"]) == [
        f"numpy=={np.__version__}",
        f"scikit-learn=={sklearn.__version__}",
    ]
    with pytest.raises(LookupError, match="imports no_such_module, but no installed package"):
        pinned_requirements(["no_such_module"])


def test_the_pyfunc_models_requirements_name_its_imports_without_the_project():
    lines = requirements()
    names = {line.partition("==")[0] for line in lines}
    # exchange_calendars: the answer's target dates.
    assert {"mlflow", "torch", "numpy", "pandas", "scikit-learn", "exchange_calendars"} <= names
    assert "stockcast" not in names
    assert all("+" not in line and line.count("==") == 1 for line in lines)
    torch_version = importlib.metadata.version("torch").split("+")[0]
    assert f"torch=={torch_version}" in lines
    assert Path("serving/pyfunc_model.py") in served_code().files
    # The Forecaster's parts and the calibration value it carries travel with it.
    parts = ("serving/inference.py", "serving/answer.py", "serving/saved.py", "core/calibration.py")
    assert {Path(p) for p in parts} <= set(served_code().files)
    assert Path("cli.py") not in served_code().files  # the CLI is not served


def test_the_copied_code_is_only_python_files(tmp_path):
    target = copy_served_code(tmp_path)
    assert target == tmp_path / "pipeline"
    copied = sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    assert copied == list(served_code().files)
    assert all(p.suffix == ".py" for p in copied)
    assert (target / "serving" / "forecaster.py").read_text() == (
        PACKAGE_DIR / "serving" / "forecaster.py"
    ).read_text()
