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

from parity.frameworks import available, missing_reason

REPO = Path(__file__).resolve().parent.parent


def needs(*frameworks):
    """Skip marker for tests that need the given frameworks ("gluon", "torch")."""
    lacking = [f for f in frameworks if not available(f)]
    return pytest.mark.skipif(bool(lacking), reason="; ".join(missing_reason(f) for f in lacking))


needs_gluon = needs("gluon")
needs_torch = needs("torch")
needs_both = needs("gluon", "torch")


def gpu_skip_reason():
    """None when both frameworks see a GPU; otherwise why the gpu case cannot run."""
    reasons = []
    if available("gluon"):
        import mxnet as mx
        if mx.context.num_gpus() == 0:
            reasons.append("MXNet sees no GPU")
    else:
        reasons.append(missing_reason("gluon"))
    if available("torch"):
        import torch
        if not torch.cuda.is_available():
            reasons.append("PyTorch sees no CUDA device")
    else:
        reasons.append(missing_reason("torch"))
    return "; ".join(reasons) or None


DEVICES = ["cpu", pytest.param("gpu", marks=pytest.mark.skipif(
    gpu_skip_reason() is not None, reason=f"gpu: {gpu_skip_reason()}"))]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def fmnist_copy(tmp_path):
    """A private copy of the four Fashion-MNIST files, safe to damage."""
    from data import FILES, resolve_dir

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
