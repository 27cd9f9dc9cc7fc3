"""Build each course notebook's .ipynb from its percent-format .py and execute it, outputs kept.

Usage: ``NB_BATCHES=N .venv/bin/python scripts/execute_notebooks.py notebooks/NAME.py ...``
(all of ``notebooks/`` when no file is named).  The kernel is ``python3`` as this Python
provides it (jupyter_client runs a kernelspec's ``python`` as the current interpreter), so
the notebooks execute in the project's ``.venv``; each prints ``sys.executable`` to show it.
"""
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def execute(source: Path) -> Path:
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = KERNEL
    NotebookClient(notebook, timeout=3600, kernel_name="python3",
                   resources={"metadata": {"path": str(source.parent)}}).execute()
    target = source.with_suffix(".ipynb")
    jupytext.write(notebook, target)
    return target


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(str(p) for p in NOTEBOOKS.glob("*.py")):
        start = time.time()
        print(f"{execute(Path(name).resolve())}: {time.time() - start:.0f} s", flush=True)
