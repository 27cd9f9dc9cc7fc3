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


#: the catalog's networks whose every check takes tens of seconds (224x224 AlexNet and VGGs; GoogLeNet and
#: the DenseNets at 96x96): their end-to-end tests are marked slow; the quick loop keeps ResNet-18 (96x96)
#: and NiN (224x224) for those sizes, and still builds these in both frameworks (parameter counts)
LARGE_NETWORKS = ("alexnet", "vgg11", "vgg_small", "googlenet", "densenet", "densenet_d2l")


def slow_if_large(names, *more):
    """One pytest param ``(name, *more)`` per name, the :data:`LARGE_NETWORKS` among them marked slow."""
    return [pytest.param(n, *more, marks=[pytest.mark.slow] if n in LARGE_NETWORKS else []) for n in names]


@pytest.fixture(scope="session")
def network_check():
    """``network_check(name, device="cpu", steps=2, seed=SEED)`` -> ``{dtype: Result}``: the registry
    network's whole check (both dtypes: float32 is judged against the float64 run, so one call gives
    both), run once per session and shared by every test that asks for the same network, device,
    steps and seed.  Tests only read the results."""
    from modern_cnns.parity.catalog import registry
    from modern_cnns.parity.verdict.check import check_network
    from modern_cnns.parity.verdict.policy import SEED

    done: dict = {}

    def get(name, device="cpu", steps=2, seed=SEED):
        key = (name, device, steps, seed)
        if key not in done:
            done[key] = {r.dtype: r for r in check_network(registry.get(name), device=device, steps=steps,
                                                             seed=seed)}
        return done[key]
    return get


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
