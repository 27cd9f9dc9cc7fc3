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


def build_pair(entry, dtype="float64", device="cpu", batch_size=2):
    """(gluon block, torch module): Gluon initialised once (Xavier), its state moved to torch."""
    import torch

    block = materialize_gluon(entry.build_gluon(), entry.batch_shape(batch_size),
                              ctx=gluon_ctx(device), dtype=dtype)
    module = entry.build_torch().to(device=torch_device(device), dtype=getattr(torch, dtype))
    gluon_to_torch(block, module)
    return block, module
