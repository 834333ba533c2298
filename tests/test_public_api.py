"""The public Python API: one installed namespace, documented names, imports that change nothing.

Each engine package's ``__init__`` is its public face (``__all__``); the README and the
notebooks use only those names. These tests pin it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_PACKAGES = (
    "metasignal.errors",
    "metasignal.data",
    "metasignal.signals",
    "metasignal.signals.scoring",
    "metasignal.portfolio",
    "metasignal.backtest",
    "metasignal.reports",
    "metasignal.examples",
)
# folder in the repository -> the package it installs as
PACKAGE_DIRS = {"metasignal": "metasignal", "data": "metasignal.data", "signals": "metasignal.signals",
                "portfolio": "metasignal.portfolio", "backtest": "metasignal.backtest"}


def _own_docstring(obj: object) -> str:
    """The object's own docstring (a class's, not one inherited from a base)."""
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__") or ""
    return inspect.getdoc(obj) or ""


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_every_exported_name_imports_and_is_documented(name: str) -> None:
    package = importlib.import_module(name)
    exported = package.__all__
    assert exported, f"{name} exports nothing"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    docstring = package.__doc__ or ""
    for attribute in exported:
        obj = getattr(package, attribute)  # raises if __all__ names something missing
        if hasattr(package, "__path__") and importlib.util.find_spec(f"{name}.{attribute}") is not None:
            pytest.fail(f"{name}.{attribute} names both an exported object and a submodule")
        if inspect.isclass(obj) or inspect.isroutine(obj):
            assert _own_docstring(obj).strip(), f"{name}.{attribute} has no docstring"
        else:
            assert f"``{attribute}``" in docstring, f"constant {name}.{attribute} is not described in {name}'s docstring"


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_every_exported_function_is_type_annotated(name: str) -> None:
    package = importlib.import_module(name)
    for attribute in package.__all__:
        obj = getattr(package, attribute)
        if not inspect.isfunction(obj):
            continue
        signature = inspect.signature(obj)
        bare = [p for p, parameter in signature.parameters.items() if parameter.annotation is inspect.Parameter.empty]
        assert not bare, f"{name}.{attribute}: parameters without a type hint: {bare}"
        assert signature.return_annotation is not inspect.Signature.empty, f"{name}.{attribute}: no return type"


def test_the_names_the_readme_uses_are_what_they_say() -> None:
    from metasignal.backtest import simulate
    from metasignal.portfolio import DollarNeutral, PortfolioOptimizer, TurnoverLimit
    from metasignal.signals import score_era, score_eras

    for function in (simulate, score_era, score_eras):
        assert inspect.isfunction(function), function
    for cls in (PortfolioOptimizer, DollarNeutral, TurnoverLimit):
        assert inspect.isclass(cls), cls


def test_one_error_hierarchy() -> None:
    from metasignal import errors

    for attribute in errors.__all__:
        cls = getattr(errors, attribute)
        assert issubclass(cls, errors.MetasignalError) or issubclass(cls, Warning), attribute
    # the floors re-export the hierarchy's own classes, never a twin
    for name in PUBLIC_PACKAGES[1:]:
        package = importlib.import_module(name)
        for attribute in package.__all__:
            obj = getattr(package, attribute)
            if inspect.isclass(obj) and issubclass(obj, Exception):
                assert obj is getattr(errors, attribute), f"{name}.{attribute} is not metasignal.errors.{attribute}"


def test_every_package_folder_is_installed_under_the_namespace() -> None:
    """The wheel holds only ``metasignal/``: every folder with an ``__init__`` maps into it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    assert all(package == "metasignal" or package.startswith("metasignal.") for package in listed)
    assert {config["package-dir"][package] for package in PACKAGE_DIRS.values()} == set(PACKAGE_DIRS)
    found = set()
    for folder, package in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found == listed, f"not listed in pyproject: {sorted(found - listed)}; listed but missing: {sorted(listed - found)}"


def test_importing_the_engine_changes_no_environment_variable() -> None:
    code = (
        "import os, json; before = dict(os.environ)\n"
        "import metasignal.data, metasignal.signals, metasignal.portfolio, metasignal.backtest, metasignal.cli\n"
        "print(json.dumps(sorted(k for k, v in os.environ.items() if before.get(k) != v)))"
    )
    changed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert changed.strip() == "[]", changed


@pytest.mark.slow
def test_a_users_data_folder_and_data_module_do_not_shadow_the_engine(tmp_path: Path) -> None:
    """The reproduced clashes: a ``data/`` folder of CSVs and a ``data.py`` in the working directory."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "prices.csv").write_text("date,ticker,close\n")
    (tmp_path / "data.py").write_text("raise SystemExit('the user data.py was imported')\n")
    for name in ("signals", "portfolio", "backtest"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the user {name}.py was imported')\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    commands = [
        [sys.executable, "-m", "metasignal", "--help"],
        [shutil.which("metasignal") or "metasignal", "--help"],
        [sys.executable, "-c", "from metasignal.backtest import simulate; from metasignal.signals import score_era; "
                               "from metasignal.portfolio import PortfolioOptimizer; import metasignal.data as d; "
                               "print(d.__file__)"],
    ]
    for command in commands:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "was imported" not in done.stdout + done.stderr
    assert str(tmp_path) not in done.stdout  # metasignal.data is the engine's, not ./data


def test_private_modules_are_imported_only_inside_their_package() -> None:
    """``metasignal.<package>._module`` is an implementation detail: other code uses the package's names."""
    private_import = re.compile(r"^\s*from (metasignal(?:\.[a-z]\w*)*)\.(_\w+)\b", re.M)
    offenders = []
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            importer = ".".join((package, *path.parent.relative_to(ROOT / folder).parts))
            for owner, module in private_import.findall(path.read_text()):
                if importer != owner and not importer.startswith(owner + "."):
                    offenders.append(f"{path.relative_to(ROOT)}: {owner}.{module}")
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            offenders += [f"{path.relative_to(ROOT)}: {owner}.{module}"
                          for owner, module in private_import.findall(path.read_text())]
    assert not offenders, offenders
