"""The ground floor: which frameworks are importable, devices, CPU numerics and threads.

Everything above imports MXNet and PyTorch through here or inside functions, so
the rest of ``parity`` loads where only one framework is installed.
"""
from __future__ import annotations

import importlib.util

FRAMEWORKS = ("gluon", "torch")
_MODULE = {"gluon": "mxnet", "torch": "torch"}


def importable(module: str) -> bool:
    """Is ``module`` installed (found without importing it)?"""
    return importlib.util.find_spec(module) is not None


def available(framework: str) -> bool:
    """Is ``"gluon"`` (MXNet) or ``"torch"`` installed here?"""
    return importable(_MODULE[framework])


def missing_reason(framework: str) -> str:
    """Why ``framework`` cannot run here, with the fix."""
    return f"{_MODULE[framework]} is not installed in this environment (pip install -r requirements.txt)"


# --------------------------------------------------------------------------- devices
def gluon_ctx(device: str):
    """MXNet's context for ``"cpu"`` or ``"gpu"``."""
    import mxnet as mx

    return mx.gpu(0) if device == "gpu" else mx.cpu()


def torch_device(device: str) -> str:
    """torch's device for ``"cpu"`` or ``"gpu"``."""
    return "cuda" if device == "gpu" else "cpu"


def device_skip_reason(device: str) -> str | None:
    """None when ``device`` can run in both frameworks; otherwise why not."""
    if device != "gpu":
        return None
    reasons = []
    if not available("gluon"):
        reasons.append(missing_reason("gluon"))
    else:
        import mxnet as mx

        if mx.context.num_gpus() == 0:
            reasons.append("MXNet sees no GPU")
    if not available("torch"):
        reasons.append(missing_reason("torch"))
    else:
        import torch

        if not torch.cuda.is_available():
            reasons.append("PyTorch sees no CUDA device")
    return "; ".join(reasons) or None


def device_label(device: str) -> str:
    """'cpu', 'cpu (oneDNN off)' or 'gpu': the context a result was measured in."""
    import os

    if device == "cpu" and os.environ.get("MXNET_MKLDNN_ENABLED") == "0":
        return "cpu (oneDNN off)"
    return device


def configure_torch_for_parity() -> None:
    """TF32 off: on Ampere and newer GPUs it would silently round matmuls and convolutions."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running (on this host)?"""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


# --------------------------------------------------------------------------- CPU numerics and threads
#: the environment variables that make this CPU compute as another one would (see README, "Other CPUs")
CPU_EMULATION_VARS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


def cpu_numerics() -> dict:
    """The CPU code paths float32 results depend on: the ISA limits set, and torch's kernel choice.

    oneDNN (in MXNet and in torch) picks its kernels by ISA, capped by ``ONEDNN_MAX_CPU_ISA``
    (``DNNL_MAX_CPU_ISA`` for older builds); PyTorch's own vectorised kernels by
    ``ATEN_CPU_CAPABILITY``.  Two machines with the same settings compute the same float32 bits.
    """
    import os

    out = {var: os.environ.get(var, "unset") for var in CPU_EMULATION_VARS}
    if available("torch"):
        import torch

        out["torch cpu capability"] = torch.backends.cpu.get_cpu_capability()
    return out


#: MXNet's engines (src/engine/engine.cc, 1.9.1); any other name fails every operator, as a parity FAIL
ENGINE_TYPES = ("NaiveEngine", "ThreadedEngine", "ThreadedEnginePerDevice")
#: thread counts read when MXNet loads: ``OMP_NUM_THREADS=abc`` (or ``4,2``, or ``2.5``) aborts it (exit 134)
THREAD_VARS = ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS", "MXNET_CPU_WORKER_NTHREADS")


#: more threads than any machine has; libgomp and MXNet abort on a count they cannot hold
MAX_THREADS = 65536


def thread_count(text: str) -> int | None:
    """``text`` as a thread count (ASCII digits, 1 to :data:`MAX_THREADS`), or None.

    ``str.isdigit`` accepts any script's digits ("٣"), which libgomp and MXNet abort on.
    """
    import re

    text = text.strip()
    if not re.fullmatch(r"[0-9]+", text) or not 0 < int(text) <= MAX_THREADS:
        return None
    return int(text)


def environment_problems(environ=None) -> list:
    """What in the environment would abort MXNet or break it, measured on mxnet 1.9.1; [] when nothing.

    Checked before MXNet loads: after, it is too late (an abort cannot be caught).
    """
    import os

    environ = os.environ if environ is None else environ
    problems = []
    for var in THREAD_VARS:
        value = environ.get(var, "")
        if value.strip() and thread_count(value) is None:
            problems.append(f"{var}={value!r} must be a positive integer (a thread count) up to {MAX_THREADS}; fix "
                            "it or unset it")
    engine = environ.get("MXNET_ENGINE_TYPE")
    if engine is not None and engine not in ENGINE_TYPES:  # set but empty aborts MXNet too
        problems.append(f"MXNET_ENGINE_TYPE={engine!r} is not an MXNet engine; use one of {', '.join(ENGINE_TYPES)}, "
                        "or unset it")
    return problems


_threads_set = False


def cores() -> int:
    """CPU cores this process may run on."""
    import os

    return len(os.sched_getaffinity(0))


def default_threads() -> int:
    """``OMP_NUM_THREADS`` if set, else every core this process may use."""
    import os

    return thread_count(os.environ.get("OMP_NUM_THREADS", "")) or cores()


def set_threads(n: int | None = None, frameworks=("gluon", "torch")) -> int:
    """Give torch ``n`` intra-op threads (default :func:`default_threads`), after loading MXNet.

    MXNet and torch share one OpenMP runtime, and importing MXNet drops torch to 1
    intra-op thread (measured: ``torch.get_num_threads()`` 2 -> 1 on a 2-core
    machine).  So MXNet is imported first, then torch's count is set.  MXNet's own
    count is ``MXNET_OMP_MAX_THREADS``, read when it loads (``python -m parity``
    and the sweep workers set it).

    ``frameworks``: the ones this process will run.  A process that trains one framework alone
    (``reproduce``'s side-by-side processes) loads only that one: each import costs ~3 s, and
    both processes start at once on the same cores.
    """
    global _threads_set
    n = n or default_threads()
    if "gluon" in frameworks and available("gluon"):
        import mxnet  # noqa: F401  (its import is what resets torch's count)
    if "torch" in frameworks and available("torch"):
        import torch

        torch.set_num_threads(n)
    _threads_set = True
    return n


def threads_per_job(jobs: int) -> int:
    """Threads for each of ``jobs`` processes sharing this machine, so that none is oversubscribed."""
    return max(1, cores() // max(1, jobs))


def ensure_threads() -> None:
    """:func:`set_threads` once per process; library entry points call it."""
    if not _threads_set:
        set_threads()
