"""A Gluon network and its torch port holding the same weights: the unit every check starts from."""
from __future__ import annotations

import numpy as np

from parity.frameworks import materialize_gluon
from parity.state import gluon_slots
from parity.transfer import gluon_to_torch


def gluon_ctx(device):
    import mxnet as mx

    return mx.gpu(0) if device == "gpu" else mx.cpu()


def torch_device(device):
    return "cuda" if device == "gpu" else "cpu"


def device_skip_reason(device):
    """None when ``device`` can run in both frameworks; otherwise why not."""
    from parity.frameworks import available, missing_reason

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


def device_label(device):
    """'cpu', 'cpu (oneDNN off)' or 'gpu': the context a result was measured in."""
    import os

    if device == "cpu" and os.environ.get("MXNET_MKLDNN_ENABLED") == "0":
        return "cpu (oneDNN off)"
    return device


def configure_torch_for_parity():
    """TF32 off: on Ampere and newer GPUs it would silently round matmuls and convolutions."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def randomize_gluon_state(block, seed=0):
    """Give every slot (parameters, running and moving statistics) random values.

    Variances get positive values; everything else uniform in [-0.5, 0.5).  Fresh
    networks hold ones and zeros in their BatchNorm state, which would hide a
    statistic that is dropped or swapped in transfer.
    """
    rng = np.random.default_rng(seed)
    for name, slot in gluon_slots(block).items():
        if name.endswith("var"):
            value = rng.uniform(0.5, 1.5, size=slot.shape)
        else:
            value = rng.uniform(-0.5, 0.5, size=slot.shape)
        slot.write(value.astype(slot.dtype))
    return block


def build_gluon(entry, dtype="float64", device="cpu", seed=0):
    """The Gluon original, initialised (Xavier, MXNet seeded with ``seed``): the same weights for a seed."""
    import mxnet as mx

    mx.random.seed(seed)
    return materialize_gluon(entry.build_gluon(), entry.batch_shape(1), ctx=gluon_ctx(device), dtype=dtype)


def build_pair(entry, dtype="float64", device="cpu", seed=0):
    """(gluon block, torch module, {gluon name: torch name}): Gluon initialised once (Xavier,
    MXNet seeded with ``seed``), its state moved to the torch port by name."""
    import torch

    block = build_gluon(entry, dtype, device, seed)
    module = entry.build_torch().to(device=torch_device(device), dtype=getattr(torch, dtype))
    report = gluon_to_torch(block, module)
    return block, module, {g: t for g, t, _ in report.mapped}
