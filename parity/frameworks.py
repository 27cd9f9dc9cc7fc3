"""Which frameworks are importable, and small helpers each side needs.

Everything that imports MXNet or PyTorch does so inside a function, so the rest
of ``parity`` loads where only one framework is installed.
"""
from __future__ import annotations

import importlib.util

FRAMEWORKS = ("gluon", "torch")
_MODULE = {"gluon": "mxnet", "torch": "torch"}


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def available(framework: str) -> bool:
    """Is ``"gluon"`` (MXNet) or ``"torch"`` installed here?"""
    return importable(_MODULE[framework])


def missing_reason(framework: str) -> str:
    return f"{_MODULE[framework]} is not installed in this environment (pip install -r requirements.txt)"


def materialize_gluon(block, input_shape, init=None, ctx=None, dtype="float32"):
    """Initialise a deferred-shape Gluon block by running one forward pass on zeros.

    ``mx.nd.waitall()`` afterwards: with oneDNN, reading weights right after the
    first (shape-inferring) forward can otherwise return half-reordered values.
    """
    import mxnet as mx

    ctx = ctx or mx.cpu()
    block.initialize(init or mx.init.Xavier(), ctx=ctx, force_reinit=True)
    # Infer shapes with one float32 example (float64 convolutions are slow), then cast:
    # the initial values are the same in every dtype.
    block(mx.nd.zeros((1,) + tuple(input_shape[1:]), ctx=ctx))
    mx.nd.waitall()
    if dtype != "float32":
        block.cast(dtype)
    return block


def gluon_param_count(block) -> int:
    """Learnable values: every Parameter except BatchNorm's running statistics."""
    return sum(int(p.data().size) for name, p in block._collect_params_with_prefix().items()
               if not name.endswith(("running_mean", "running_var")))


def torch_param_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


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


_threads_set = False


def cores() -> int:
    """CPU cores this process may run on."""
    import os

    return len(os.sched_getaffinity(0))


def default_threads() -> int:
    """``OMP_NUM_THREADS`` if set, else every core this process may use."""
    import os

    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else cores()


def set_threads(n: int | None = None) -> int:
    """Give torch ``n`` intra-op threads (default :func:`default_threads`), after loading MXNet.

    MXNet and torch share one OpenMP runtime, and importing MXNet drops torch to 1
    intra-op thread (measured: ``torch.get_num_threads()`` 2 -> 1 on a 2-core
    machine).  So MXNet is imported first, then torch's count is set.  MXNet's own
    count is ``MXNET_OMP_MAX_THREADS``, read when it loads (``python -m parity``
    and the sweep workers set it).
    """
    global _threads_set
    n = n or default_threads()
    if available("gluon"):
        import mxnet  # noqa: F401  (its import is what resets torch's count)
    if available("torch"):
        import torch

        torch.set_num_threads(n)
    _threads_set = True
    return n


def ensure_threads() -> None:
    """:func:`set_threads` once per process; library entry points call it."""
    if not _threads_set:
        set_threads()
