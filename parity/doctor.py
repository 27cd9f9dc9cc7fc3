"""``python -m parity doctor``: what this environment has, and a one-line fix for what it lacks."""
from __future__ import annotations

import platform
import sys

from modern_cnns.parity.frameworks import importable


def _mxnet_report():
    import mxnet as mx

    onednn = mx.runtime.Features().is_enabled("MKLDNN")
    return f"mxnet {mx.__version__} (oneDNN {'on' if onednn else 'off'}, GPUs: {mx.context.num_gpus()})"


def _torch_report():
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(n)) or "none"
    return f"torch {torch.__version__} (CUDA devices: {n}: {names})"


def _gluoncv_report():
    from importlib.metadata import version

    from modern_cnns.gluon_impl.gluoncv_compat import import_gluoncv

    import_gluoncv()  # gluoncv's own __version__ says 0.11.0 in the 0.10.5 wheels: report the distribution's
    return f"gluoncv {version('gluoncv')} (imports with torch hidden from its version check)"


def _dataset_report(root):
    from modern_cnns.data import FILES, check_files

    paths = check_files(root)
    lines = [f"Fashion-MNIST in {paths['train_images'].parent}"]
    lines += [f"  {FILES[key].name}: checksum ok" for key in FILES]
    return "\n".join(lines)


def _time_per_call(step, seconds):
    """Milliseconds per call of ``step``: as many calls as fit in ``seconds``, after one warm-up."""
    import time

    step()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        calls += 1
    return 1000 * (time.perf_counter() - start) / calls


def _torch_step():
    import torch
    import torch.nn.functional as F

    x, w = torch.rand(256, 1, 28, 28), torch.rand(6, 1, 5, 5, requires_grad=True)

    def step():
        y = torch.sigmoid(F.batch_norm(F.conv2d(x, w), None, None, training=True))
        F.max_pool2d(y, 2).sum().backward()
    return step


#: MXNet reads MXNET_OMP_MAX_THREADS when it loads, and its engine threads never see a later
#: MXSetNumOMPThreads (measured: 0.99x), so each thread count is timed in a fresh process.
_MXNET_BENCH = """
import sys, time
import mxnet as mx
from mxnet import autograd, nd
x, w = nd.random.uniform(shape=(256, 1, 28, 28)), nd.random.uniform(shape=(6, 1, 5, 5))
w.attach_grad()
gamma, beta = nd.ones(6), nd.zeros(6)
def step():
    with autograd.record():
        y = nd.Convolution(x, w, kernel=(5, 5), num_filter=6, no_bias=True)
        y = nd.BatchNorm(y, gamma, beta, nd.zeros(6), nd.ones(6), fix_gamma=False, eps=1e-5).sigmoid()
        out = nd.Pooling(y, kernel=(2, 2), stride=(2, 2), pool_type="max").sum()
    out.backward()
    mx.nd.waitall()
step()
calls, start = 0, time.perf_counter()
while time.perf_counter() - start < float(sys.argv[1]):
    step()
    calls += 1
print(1000 * (time.perf_counter() - start) / calls)
"""


def _mxnet_ms(threads, seconds):
    import os
    import subprocess

    # both variables: MXNet's own operators read MXNET_OMP_MAX_THREADS, its oneDNN convolution the OpenMP
    # runtime's OMP_NUM_THREADS (measured: OMP_NUM_THREADS=2 with MXNET_OMP_MAX_THREADS=1 ran this step on 2)
    env = {**os.environ, "MXNET_OMP_MAX_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", _MXNET_BENCH, str(seconds)], env=env, capture_output=True,
                         text=True, timeout=120)
    return float(out.stdout.split()[-1])


def threads_report(seconds=0.5):
    """The threads each framework will use, and a ~2 s benchmark of 1 vs N threads (a BN-LeNet layer)."""
    import os

    from modern_cnns.parity.frameworks import available, cores, set_threads

    n = set_threads()
    lines = [f"threads: torch intra-op {n}, MXNet OpenMP {os.environ.get('MXNET_OMP_MAX_THREADS', 'default')} "
             f"(cores {cores()}; MXNet's oneDNN kernels: OMP_NUM_THREADS "
             f"{os.environ.get('OMP_NUM_THREADS', 'unset, every core')}; "
             f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')})"]
    if n == 1:
        return lines
    if available("torch"):
        import torch

        step, times = _torch_step(), {}
        for k in (1, n):
            torch.set_num_threads(k)
            times[k] = _time_per_call(step, seconds)
        torch.set_num_threads(n)
        lines.append(f"  torch conv+BN+pool fwd/bwd, batch 256: {times[1]:.1f} ms on 1 thread, "
                     f"{times[n]:.1f} ms on {n} ({times[1] / times[n]:.2f}x)")
    if available("gluon"):
        times = {k: _mxnet_ms(k, seconds) for k in (1, n)}
        lines.append(f"  MXNet conv+BN+pool fwd/bwd, batch 256: {times[1]:.1f} ms on 1 thread, "
                     f"{times[n]:.1f} ms on {n} ({times[1] / times[n]:.2f}x)")
    return lines


CHECKS = [
    # (label, needs-module, framework it belongs to, report, fix)
    ("mxnet", "mxnet", "gluon", _mxnet_report, "pip install -r requirements.txt (mxnet==1.9.1 needs numpy<1.24)"),
    ("torch", "torch", "torch", _torch_report, "pip install -r requirements.txt (torch==2.13.0)"),
    ("gluoncv", "gluoncv", "gluon", _gluoncv_report, "pip install -r requirements.txt (gluoncv==0.10.5.post0)"),
]


def one_framework_only() -> str | None:
    """``"torch"`` or ``"gluon"`` where exactly that framework is installed (the ``torch`` and ``gluon``
    tox envs, built from ``requirements-torch.txt`` / ``requirements-gluon.txt``), else None.

    Such an environment lacks the other framework on purpose: its absence is reported, not a problem."""
    from modern_cnns.parity.frameworks import FRAMEWORKS, available

    present = [f for f in FRAMEWORKS if available(f)]
    return present[0] if len(present) == 1 else None


def run(root=None, out=None) -> int:
    """Print the report (to ``out``, default ``sys.stdout`` as it is when called: the CLI's wrapper that
    takes a closed pipe quietly); return 0 when everything is present and intact, 1 otherwise.

    "Everything" is both frameworks, or one framework with its own packages where the other is
    absent altogether (a one-framework environment, :func:`one_framework_only`)."""
    import numpy as np

    problems = []
    only = one_framework_only()
    print(f"python {platform.python_version()} ({sys.executable})", file=out)
    print(f"numpy {np.__version__}", file=out)
    for label, module, framework, report, fix in CHECKS:
        if not importable(module):
            if only is not None and framework != only:
                print(f"{label}: not installed (this environment is {only}-only; both frameworks: "
                      f"pip install -r requirements.txt)", file=out)
            else:
                problems.append(f"{label} is not installed. Fix: {fix}")
            continue
        try:
            print(report(), file=out)
        except Exception as err:  # a broken install: say so, keep going
            problems.append(f"{label} fails to import ({type(err).__name__}: {err}). Fix: {fix}")
    if importable("torch") or importable("mxnet"):
        try:
            print("\n".join(threads_report()), file=out)
        except Exception as err:  # a benchmark must never hide the rest of the report
            print(f"threads: could not measure ({type(err).__name__}: {err})", file=out)
    try:
        print(_dataset_report(root), file=out)
    except Exception as err:
        from modern_cnns.data import DatasetError

        if not isinstance(err, DatasetError):
            raise
        problems.append(str(err))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=out)
    print("doctor: all good" if not problems else f"doctor: {len(problems)} problem(s)", file=out)
    return 1 if problems else 0
