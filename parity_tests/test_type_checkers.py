"""mypy and pyright read the package from a fresh checkout: a user's script sees every public name, typed.

``tox -e type`` checks all of ``parity/``; these tests check what it cannot: a copy of the tracked files
alone (no install of the project, no cache), as a fresh clone is, and a script importing the public API
the way the README does.  A broken ``modern_cnns/`` link, a public name missing from the
``TYPE_CHECKING`` block of the lazy ``parity/__init__.py`` (the name would then be ``object``), or a type
error on the way from the public API fails here.
"""
import os
import re
import subprocess
import sys

import pytest

from parity_tests.conftest import copy_tracked, needs_torch

slow = pytest.mark.slow  # each checker reads torch's and numpy's types: tens of seconds on 2 cores

#: what a fresh checkout has that the checkers read
TRACKED = ("pyproject.toml", "modern_cnns", "parity", "gluon_impl", "torch_impl", "data")

#: a user's script: every public name, used as the README uses it (never run, only checked)
_CLIENT = '''
from modern_cnns.parity import Result, Row, check_network, check_pair, suggest_map, use_gluon_batchnorm
from modern_cnns.parity.weights.checkpoint import CheckpointError, convert, load_torch, save_torch
from modern_cnns.parity.weights.transfer import TransferError, TransferReport, gluon_to_torch, torch_to_gluon


def verify(gluon_block, torch_module, path) -> list[str]:
    try:
        report: TransferReport = gluon_to_torch(gluon_block, use_gluon_batchnorm(torch_module))
        torch_to_gluon(torch_module, gluon_block)
        save_torch(torch_module, path)
        load_torch(torch_module, path)
        convert("resnet18", path, path + ".params")
    except (TransferError, CheckpointError) as err:
        return [str(err)]
    results: list[Result] = check_pair(gluon_block, torch_module, (1, 28, 28), dtypes=("float64",))
    rows: list[Row] = results[0].rows
    return [str(report), *suggest_map(gluon_block, torch_module, (1, 28, 28)), *(str(r.check) for r in rows)]


reveal_type(check_pair)
reveal_type(check_network)
reveal_type(use_gluon_batchnorm)
'''


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The tracked files the checkers read, copied as git has them (links stay links), and the script."""
    root = copy_tracked(tmp_path_factory.mktemp("checkout"), *TRACKED)
    assert (root / "modern_cnns" / "parity").is_symlink()
    (root / "client.py").write_text(_CLIENT)
    return root


def _check(output: str, revealed: dict, signature: str) -> None:
    assert set(revealed) == {"check_pair", "check_network", "use_gluon_batchnorm"}, output[-3000:]
    assert all(re.match(signature, text) for text in revealed.values()), revealed  # functions, not Any or object
    assert re.search(r"-> list\[(modern_cnns\.parity\.verdict\.check\.)?Result\]$", revealed["check_pair"]), revealed
    assert re.search(r"\) -> (torch\.nn\.modules\.module\.)?Module$", revealed["use_gluon_batchnorm"]), revealed


@slow
def test_mypy_reads_the_public_api_from_a_fresh_checkout(checkout):
    pytest.importorskip("mypy", reason="mypy is installed by requirements.lock (the full stack), not here")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(checkout / ".mypy_cache"), "client.py"],
                          cwd=checkout, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    lines = [line.split(": note: Revealed type is ", 1)[1] for line in proc.stdout.splitlines()
             if ": note: Revealed type is " in line]
    names = ("check_pair", "check_network", "use_gluon_batchnorm")  # in reveal_type's order in the script
    _check(proc.stdout, dict(zip(names, (line.strip('"') for line in lines))), r"def \(")


@slow
def test_pyright_reads_the_public_api_from_a_fresh_checkout(checkout):
    pytest.importorskip("pyright", reason="pyright is installed by requirements.lock (the full stack), not here")
    env = {**os.environ, "PYRIGHT_PYTHON_GLOBAL_NODE": "0", "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}  # as tox.ini
    proc = subprocess.run([sys.executable, "-m", "pyright", "--pythonpath", sys.executable, "client.py"],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 errors" in proc.stdout, proc.stdout[-3000:]
    revealed = dict(re.findall(r'information: Type of "(\w+)" is "(.*)"$', proc.stdout, re.M))
    _check(proc.stdout, revealed, r"\(")


@needs_torch
def test_the_gluon_style_torch_layers_take_their_input_by_torchs_name():
    """pyright found it: their ``forward`` renamed torch's ``input``, so ``layer(input=x)`` failed."""
    import torch

    from modern_cnns.torch_impl.gluon_layers import Conv2D, Dense

    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float64).reshape(2, 3, 4, 4) / 50
    for layer in (Conv2D(5, 3, padding=1, activation="relu", in_channels=3).double(),
                  Dense(7, activation="relu", in_units=48).double()):
        assert torch.equal(layer(input=x), layer(x)), type(layer).__name__
