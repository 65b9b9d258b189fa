"""What a logged model carries to stand alone: the project's modules it runs and their requirements.

The served code is found by reading imports, not by running them: from the pyfunc entry,
every ``pipeline`` module it imports (at the top of a file or inside a function) is followed,
and every other top-level name outside the standard library is a requirement. Each maps to
the installed distributions that provide it (``importlib.metadata``), pinned to their versions.
Reading rather than importing also finds a module imported only when predicting, and lists
only what our code names: pip resolves everything else from those pins.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pipeline
from pipeline.serving import pyfunc_entry_path

PACKAGE_DIR = Path(pipeline.__file__).parent


@dataclass(frozen=True)
class ServedCode:
    """The part of a package that a served model runs."""

    files: tuple[Path, ...]  # the package's source files it runs, relative to the package folder
    imports: tuple[str, ...]  # the top-level modules outside the package and the stdlib they import


def find_served_code(entry: Path, package_dir: Path) -> ServedCode:
    """Follow the imports of ``entry`` through the package in ``package_dir``."""
    package = package_dir.name
    seen: set[Path] = set()
    imports: set[str] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_names(path, package_dir):
            top = name.partition(".")[0]
            if top == package:
                todo.extend(_source_files(name, package_dir))
            elif top not in sys.stdlib_module_names:
                imports.add(top)
    files = sorted(p.relative_to(package_dir) for p in seen if p.is_relative_to(package_dir))
    return ServedCode(files=tuple(files), imports=tuple(sorted(imports)))


def pinned_requirements(imports: Iterable[str]) -> list[str]:
    """``name==version`` for every installed distribution that provides one of ``imports``.

    A local version label (torch's ``+cu130``) is dropped: PyPI has no such release.
    """
    providers = importlib.metadata.packages_distributions()
    names: set[str] = set()
    for module in imports:
        if not providers.get(module):
            raise LookupError(f"the served code imports {module}, but no installed package has it")
        names.update(providers[module])
    return [
        f"{name}=={importlib.metadata.version(name).split('+')[0]}"
        for name in sorted(names, key=str.lower)
    ]


@functools.cache
def served_code() -> ServedCode:
    """The modules of ``pipeline`` that the pyfunc entry runs, and what they import."""
    return find_served_code(pyfunc_entry_path(), PACKAGE_DIR)


@functools.cache
def requirements() -> tuple[str, ...]:
    """The pinned requirements of the served model, found once per process."""
    return tuple(pinned_requirements(served_code().imports))


def copy_served_code(folder: Path) -> Path:
    """Copy the served modules into ``folder/pipeline``, the folder to log as ``code_paths``."""
    target = folder / PACKAGE_DIR.name
    for file in served_code().files:
        (target / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_DIR / file, target / file)
    return target


def _imported_names(path: Path, package_dir: Path) -> Iterator[str]:
    """Every absolute module name ``path`` imports, and ``base.name`` for each ``from base
    import name`` (which may be a submodule)."""
    # The package that holds the file, which a relative import starts from.
    here = []
    if path.is_relative_to(package_dir):
        here = [package_dir.name, *path.relative_to(package_dir).parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package that holds this file, up level - 1
                anchor = here[: len(here) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def _source_files(module: str, package_dir: Path) -> Iterator[Path]:
    """The files Python runs to import ``module``: each package's ``__init__.py``, then the
    module's own file; none for a name that is not a module of the package."""
    parts = module.split(".")[1:]
    for depth in range(len(parts) + 1):
        folder = package_dir.joinpath(*parts[:depth])
        if (folder / "__init__.py").is_file():
            yield folder / "__init__.py"
        elif depth and folder.with_suffix(".py").is_file():
            yield folder.with_suffix(".py")
            return
        elif not folder.is_dir():  # a name imported from a module, not a module
            return
