"""``python -m parity doctor`` exit codes and fixes, run as a user would run it."""
import os
import subprocess
import sys

import pytest

from modern_cnns.data import FILES
from modern_cnns.parity.frameworks import THREAD_VARS, importable
from parity_tests.conftest import REPO


def doctor_env(data_dir, benchmark=False):
    """The doctor's environment: ``data_dir`` as its Fashion-MNIST folder, and one thread unless ``benchmark``.

    On one thread the doctor skips its 1-vs-N-threads benchmark (two MXNet processes and a torch loop:
    about 6 of its 10 s of CPU); only :func:`test_the_doctor_reports_every_cores_threads_and_benchmarks_one_against_all`
    (slow) checks it, with
    the thread variables unset (the defaults it reports), whatever the test runner set."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    return {**env, "FASHION_MNIST_DIR": str(data_dir), **({} if benchmark else {"OMP_NUM_THREADS": "1"})}


def doctor(data_dir, benchmark=False):
    proc = subprocess.run([sys.executable, "-m", "parity", "doctor"], cwd=REPO, env=doctor_env(data_dir, benchmark),
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_all_good_or_names_each_missing_framework(fmnist_copy):
    code, out = doctor(fmnist_copy)
    for name in FILES.values():
        assert f"{name.name}: checksum ok" in out
    missing = [m for m in ("mxnet", "torch", "gluoncv") if not importable(m)]
    if missing:  # the single-framework tox envs: the other framework is absent on purpose
        only = "gluon" if importable("mxnet") else "torch"
        assert code == 0 and "doctor: all good" in out and "PROBLEM" not in out, out
        for module in missing:
            assert f"{module}: not installed (this environment is {only}-only" in out, out
    else:
        assert code == 0, out
        assert "doctor: all good" in out and "oneDNN" in out and "gluoncv 0.10.5" in out
        assert "threads: torch intra-op 1, MXNet OpenMP 1" in out, out  # what OMP_NUM_THREADS=1 asks


@pytest.mark.slow  # the quick loop runs the doctor above, on one thread, without its benchmark
def test_the_doctor_reports_every_cores_threads_and_benchmarks_one_against_all(fmnist_copy):
    """With the thread variables unset, each framework gets every core, and the 1-vs-N benchmark runs."""
    code, out = doctor(fmnist_copy, benchmark=True)
    assert code == 0 and "doctor: all good" in out, out
    if all(importable(m) for m in ("mxnet", "torch")):
        cores = len(os.sched_getaffinity(0))
        assert f"threads: torch intra-op {cores}, MXNet OpenMP {cores}" in out, out
        if cores > 1:  # the 1-vs-N benchmark, one line per framework
            assert "torch conv+BN+pool fwd/bwd" in out and "MXNet conv+BN+pool fwd/bwd" in out, out


#: run the doctor with some modules unfindable, as in an environment built without them
_HIDDEN = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # import fails and importlib.util.find_spec says None, as when not installed
from modern_cnns.parity import doctor
sys.exit(doctor.run())
"""


@pytest.mark.parametrize("hidden,only", [("mxnet,gluoncv", "torch"), ("torch", "gluon"), ("gluoncv", None)])
def test_a_one_framework_environment_is_all_good_and_a_partial_one_is_not(hidden, only, fmnist_copy):
    modules = hidden.split(",")
    if not all(importable(m) for m in modules) or not importable("torch" if only == "torch" else "mxnet"):
        pytest.skip("needs both frameworks and gluoncv installed, to hide some of them")
    proc = subprocess.run([sys.executable, "-c", _HIDDEN, hidden], cwd=REPO, env=doctor_env(fmnist_copy),
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    if only:
        assert proc.returncode == 0 and "doctor: all good" in out and "PROBLEM" not in out, out
        assert all(f"{m}: not installed (this environment is {only}-only" in out for m in modules), out
    else:  # MXNet without its gluoncv beside torch: a broken full stack, not a one-framework one
        assert proc.returncode == 1 and "PROBLEM: gluoncv is not installed. Fix: pip install -r" in out, out


def test_missing_dataset_directory(tmp_path):
    code, out = doctor(tmp_path / "absent")
    assert code == 1
    assert "Fix: apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR" in out


def test_corrupt_file_is_named(fmnist_copy):
    path = fmnist_copy / FILES["train_images"].name
    path.write_bytes(path.read_bytes()[:1000])
    code, out = doctor(fmnist_copy)
    assert code == 1
    assert "train-images-idx3-ubyte.gz is truncated or corrupt" in out
    assert "train-images-idx3-ubyte.gz: checksum ok" not in out


def test_an_unsearchable_data_folder_is_a_problem_with_a_fix_not_a_crash(tmp_path):
    """Run as an unprivileged user (root reads everything): the doctor names the folder and the fix."""
    import shutil

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        import pytest

        pytest.skip("needs root and setpriv to run the doctor as an unprivileged user")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # (the doctor needs numpy: a venv whose packages that user cannot read tests nothing here)
    probe = subprocess.run(as_nobody + [sys.executable, "-c", "import parity, numpy"], cwd=REPO, capture_output=True)
    if probe.returncode != 0:
        import pytest

        pytest.skip(f"this interpreter cannot run as an unprivileged user here: {probe.stderr.decode()[-200:]}")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o755)
    proc = subprocess.run(as_nobody + [sys.executable, "-m", "parity", "doctor", "--data-dir", str(locked / "fm")],
                          cwd=REPO, env=doctor_env(locked / "fm"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert f"PROBLEM: Fashion-MNIST directory {locked / 'fm'} cannot be searched (Permission denied)" in proc.stdout
