"""The course notebooks (``notebooks/``): paired, executed, parameterised, and run small in CI."""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))
#: the course sections the project covers, one notebook each
SECTIONS = {"gluonbook §5.11", "gluonbook §5.12", "gluonbook §5.13", "d2l 0.17 §7.5", "d2l 1.0 §8.1",
            "d2l 1.0 §8.2", "d2l 1.0 §8.3", "d2l 1.0 §8.5", "d2l 1.0 §8.7"}


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def _code_cells(notebook) -> list:
    return ["".join(c["source"]).strip() for c in notebook["cells"] if c["cell_type"] == "code"]


def test_one_notebook_per_section_the_project_covers():
    titles = {re.search(r"^# # (gluonbook|d2l 0\.17|d2l 1\.0) (§\d+\.\d+) ", p.read_text(), re.M) for p in SOURCES}
    assert None not in titles, [p.name for p in SOURCES]
    assert {f"{m.group(1)} {m.group(2)}" for m in titles} == SECTIONS


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_each_notebook_is_paired_executed_and_reads_nb_batches(source):
    """The .ipynb holds the .py's code, cell for cell, with the outputs of a real run in the project's .venv."""
    jupytext = pytest.importorskip("jupytext", reason="jupytext reads the percent-format notebooks")
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: scripts/execute_notebooks.py {source.relative_to(REPO)}"
    executed = json.loads(paired.read_text())
    assert _code_cells(executed) == _code_cells(jupytext.read(source)), f"{paired.name} is out of step with its .py"
    assert executed["metadata"]["kernelspec"]["name"] == "python3"
    outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    first = "".join(_text(o.get("text", "")) for o in executed["cells"][1]["outputs"] if o["output_type"] == "stream")
    assert first.startswith("kernel: ") and ".venv" in first, first
    assert "nb.batches(" in "".join(executed["cells"][1]["source"])
    assert any("PASS" in _text(o.get("text", "")) for o in outputs), "no parity verdict in the outputs"


@pytest.mark.slow
def test_notebooks_execute_in_ci_with_two_batches(tmp_path):
    """What CI runs: every notebook through nbmake, two training batches per run."""
    if importlib.util.find_spec("nbmake") is None:
        pytest.skip("nbmake is not installed (requirements.txt pins it)")
    env = {**os.environ, "NB_BATCHES": "2"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake",
                           "--nbmake-timeout=1800", str(NOTEBOOKS)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=7200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
