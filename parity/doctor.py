"""``python -m parity doctor``: what this environment has, and a one-line fix for what it lacks."""
from __future__ import annotations

import platform
import sys

from parity.frameworks import importable


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

    from gluon_impl.gluoncv_compat import import_gluoncv

    import_gluoncv()  # gluoncv's own __version__ says 0.11.0 in the 0.10.5 wheels: report the distribution's
    return f"gluoncv {version('gluoncv')} (imports with torch hidden from its version check)"


def _dataset_report(root):
    from data import FILES, check_files

    paths = check_files(root)
    lines = [f"Fashion-MNIST in {paths['train_images'].parent}"]
    lines += [f"  {FILES[key].name}: checksum ok" for key in FILES]
    return "\n".join(lines)


CHECKS = [
    # (label, needs-module, report, fix)
    ("mxnet", "mxnet", _mxnet_report, "pip install -r requirements.txt (mxnet==1.9.1 needs numpy<1.24)"),
    ("torch", "torch", _torch_report, "pip install -r requirements.txt (torch==2.13.0)"),
    ("gluoncv", "gluoncv", _gluoncv_report, "pip install -r requirements.txt (gluoncv==0.10.5.post0)"),
]


def run(root=None, out=sys.stdout) -> int:
    """Print the report; return 0 when everything is present and intact, 1 otherwise."""
    import numpy as np

    problems = []
    print(f"python {platform.python_version()} ({sys.executable})", file=out)
    print(f"numpy {np.__version__}", file=out)
    for label, module, report, fix in CHECKS:
        if not importable(module):
            problems.append(f"{label} is not installed. Fix: {fix}")
            continue
        try:
            print(report(), file=out)
        except Exception as err:  # a broken install: say so, keep going
            problems.append(f"{label} fails to import ({type(err).__name__}: {err}). Fix: {fix}")
    try:
        print(_dataset_report(root), file=out)
    except Exception as err:
        from data import DatasetError

        if not isinstance(err, DatasetError):
            raise
        problems.append(str(err))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=out)
    print("doctor: all good" if not problems else f"doctor: {len(problems)} problem(s)", file=out)
    return 1 if problems else 0
