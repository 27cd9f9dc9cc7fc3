"""Shared fixtures: framework requirements and device parametrisation.

A test that needs a framework this environment lacks is skipped with the
reason (the `gluon` and `torch` tox envs install only one of them).  Device-
parametrised tests run on ``cpu`` always and on ``gpu`` only where *both*
frameworks see one.
"""
import gzip
import shutil
from pathlib import Path

import pytest

from modern_cnns.parity.frameworks import available, device_skip_reason, missing_reason

REPO = Path(__file__).resolve().parent.parent


def needs(*frameworks):
    """Skip marker for tests that need the given frameworks ("gluon", "torch")."""
    lacking = [f for f in frameworks if not available(f)]
    return pytest.mark.skipif(bool(lacking), reason="; ".join(missing_reason(f) for f in lacking))


needs_gluon = needs("gluon")
needs_torch = needs("torch")
needs_both = needs("gluon", "torch")


_GPU_SKIP = device_skip_reason("gpu")
DEVICES = ["cpu", pytest.param("gpu", marks=pytest.mark.skipif(_GPU_SKIP is not None, reason=f"gpu: {_GPU_SKIP}"))]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def fmnist_copy(tmp_path):
    """A private copy of the four Fashion-MNIST files, safe to damage."""
    from modern_cnns.data import FILES, resolve_dir

    src = resolve_dir()
    for spec in FILES.values():
        shutil.copy(src / spec.name, tmp_path / spec.name)
    return tmp_path


def rewrite_gz(path, mutate):
    """Decompress ``path``, apply ``mutate(bytes) -> bytes``, recompress in place."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    with gzip.open(path, "wb") as f:
        f.write(mutate(raw))
