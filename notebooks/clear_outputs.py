"""Strip outputs and execution counts from notebooks before committing.

    python notebooks/clear_outputs.py                  # every notebooks/*.ipynb
    python notebooks/clear_outputs.py path/to/a.ipynb  # only these
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def clear(path: Path) -> bool:
    """Clear one notebook in place; True if anything changed."""
    notebook = nbformat.read(path, as_version=4)
    changed = False
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cell.outputs or cell.execution_count is not None:
            cell.outputs, cell.execution_count = [], None
            changed = True
        for key in ("execution", "collapsed", "scrolled"):
            changed |= cell.metadata.pop(key, None) is not None
    if changed:
        nbformat.write(notebook, path)
    return changed


def main(arguments: list[str]) -> None:
    paths = [Path(a) for a in arguments] or sorted(Path(__file__).resolve().parent.glob("*.ipynb"))
    for path in paths:
        print(f"{path}: {'cleared' if clear(path) else 'already clean'}")


if __name__ == "__main__":
    main(sys.argv[1:])
