"""Shared fixtures: framework requirements and device parametrisation.

A test that needs a framework this environment lacks is skipped with the
reason (the `gluon` and `torch` tox envs install only one of them).  Device-
parametrised tests run on ``cpu`` always and on ``gpu`` only where *both*
frameworks see one.
"""
import gzip
import os
import re
import shutil
from pathlib import Path

import pytest

from modern_cnns.parity.frameworks import available, cores, device_skip_reason, missing_reason

REPO = Path(__file__).resolve().parent.parent


def _one_share_of_the_cores_per_worker():
    """Under pytest-xdist (``-n 2``), each worker and the processes it starts get its share of the cores.

    Two workers each running MXNet's and torch's OpenMP loops on every core oversubscribe the machine, and an
    OpenMP thread that spins waiting for a descheduled one makes a loop many times slower (the doctor measured
    MXNet's conv+BN+pool step at 175 ms on 1 thread, 2586 ms on 2, on a busy 2-core machine).  Set here, before
    anything loads MXNet, which reads its count once.  A count the user set is kept.  Tests that check the
    default thread counts run their child without these variables (``test_doctor.py``,
    ``test_threads_and_sweep.py``)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    if workers > 1:
        share = str(max(1, cores() // workers))
        for var in ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS"):
            os.environ.setdefault(var, share)


_one_share_of_the_cores_per_worker()


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


def copy_tracked(root, *paths):
    """The tracked files under ``paths`` copied into ``root`` as git has them (links stay links): a fresh checkout,
    for tools that write beside what they read (a wheel build writes ``build/`` and the egg-info) while other
    tests, in this process or another worker, read this one."""
    import subprocess

    names = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for name in filter(None, names):
        source, copy = REPO / name, Path(root) / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), copy)
        else:
            shutil.copyfile(source, copy)
    return Path(root)


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


#: tests that hold one of the :data:`LARGE_NETWORKS` in each framework (GBs) when that network is their parameter
LARGE_NETWORK_TESTS = {"test_port_matches_original", "test_gluon_builds_and_runs",
                       "test_mirrored_networks_compute_the_same_prediction",
                       "test_pair_built_unset_then_filled_equals_a_conventional_build",
                       "test_round_trip_gluon_torch_gluon_is_bitwise",
                       "test_known_mutations_are_caught_in_float32_at_default_settings"}
#: tests that check the whole catalog (large networks included), or third-party 224x224 networks
WHOLE_CATALOG_TESTS = {"test_float32_sweep_passes_as_another_cpu_computes", "test_parallel_sweep_matches_serial",
                       "test_224_only_zoo_pairs_pass_in_float64"}


def shared_work(nodeid: str) -> str | None:
    """The expensive thing the test ``nodeid`` shares with other tests, or None.

    Under ``-n 2 --dist loadgroup`` the tests that share one go to one worker, one after another:

    - the large networks' tests and the whole-catalog sweeps (oneDNN off, other CPUs', serial against parallel):
      several GB each, two at once on two workers would not fit beside a sweep's own processes (all slow tests);
    - ``test_port_matches_original``'s two dtypes (and the stock-BatchNorm test) read one ``network_check`` (a
      session fixture is built in each worker that runs a test asking for it);
    - the Ray tests start clusters, one at a time as in a single process (``test_zoo_ray.py``'s quick tests,
      which start none, go along: milliseconds);
    - ``test_run_files.py`` damages copies of one module-scoped run.

    Read from the test's id, not from ``xdist_group`` marks: pytest-xdist 3.8 groups by rewriting
    ``item._nodeid``, which pytest 9.2 no longer reads (the marks were set, and every test went its own way)."""
    path, _, test = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1]
    if module in ("test_zoo_ray.py", "test_run_files.py"):
        return module
    name, _, params = test.partition("[")
    words = set(re.split(r"[^A-Za-z0-9_]+", params))
    if name in WHOLE_CATALOG_TESTS or (name in LARGE_NETWORK_TESTS and words & set(LARGE_NETWORKS)) or \
            "cpu-noonednn" in params:
        return "large networks"
    if name == "test_port_matches_original":
        network, context = params.rstrip("]").rsplit("-", 1)[0].split("-", 1)  # NAME-CONTEXT-DTYPE
        return f"network_check {network} {context}"
    if name == "test_the_editions_stock_batchnorm_is_a_known_difference_of_the_course_not_a_port_failure":
        return "network_check bn_lenet_concise_d2l_stock cpu"
    return None


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent without it
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the groups of :func:`shared_work`; other modes are xdist's own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class SharedWorkScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid):
            return shared_work(nodeid) or super()._split_scope(nodeid)

    return SharedWorkScheduling(config, log)
