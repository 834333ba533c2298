"""Every tour in notebooks/ runs end to end, and is stored clean.

Each notebook is executed with nbclient in a fresh kernel (per-cell timeout 120 s, working
directory a temporary directory). The kernel is always the interpreter running the tests:
a kernelspec pointing at ``sys.executable`` is written into a temporary directory, so a
missing or foreign ``python3`` kernelspec on the machine cannot break or redirect the run.
The notebooks import only the public API (``metasignal.<package>`` names, never a module
path inside a package), and they set no thread limits: the engine does that itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT = 120  # seconds
PUBLIC_MODULES = {  # the names a user imports from (each package's __init__ is its public API)
    "metasignal.data", "metasignal.signals", "metasignal.signals.scoring", "metasignal.portfolio",
    "metasignal.backtest", "metasignal.errors", "metasignal.reports", "metasignal.examples",
    "metasignal.tournament",  # the app's replay with its participants: advance(store, to)
}


def test_the_tours_exist():
    names = [path.name for path in NOTEBOOKS]
    assert "01_data_and_signals.ipynb" in names
    assert "02_portfolio_and_backtest.ipynb" in names


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A directory holding one kernelspec, ``python3``, that runs this interpreter."""
    root = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(str(root / KERNEL))
    return [str(root)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    dirty = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{path.name}: outputs in code cells {dirty}; run `python notebooks/clear_outputs.py`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_uses_only_the_public_api(path: Path):
    notebook = nbformat.read(path, as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    imported = set(re.findall(r"^\s*from (metasignal[\w.]*) import", source, flags=re.M))
    imported |= set(re.findall(r"^\s*import (metasignal[\w.]*)", source, flags=re.M))
    assert imported, f"{path.name} imports nothing from metasignal"
    private = sorted(imported - PUBLIC_MODULES)
    assert not private, f"{path.name} imports from {private}: use the packages' public names"
    for boilerplate in ("threadpool_limits", "OPENBLAS_NUM_THREADS", ".con.execute", ".con.sql"):
        assert boilerplate not in source, f"{path.name} uses {boilerplate!r}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_end_to_end(path: Path, kernel_dirs: list[str], tmp_path: Path):
    notebook = nbformat.read(path, as_version=4)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    manager = AsyncKernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs),
        connection_file=str(tmp_path / "kernel-connection.json"),  # no write to the user's runtime dir
    )
    client = NotebookClient(
        notebook, km=manager, kernel_name=KERNEL, timeout=CELL_TIMEOUT, startup_timeout=120,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=dict(os.environ))  # raises CellExecutionError naming the failing cell
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any(output.output_type in ("execute_result", "display_data") for output in outputs)
    assert not (cwd / "metasignal.duckdb").exists(), f"{path.name} wrote to the default store"
