"""Initialisation: Gluon's ``init.Xavier()`` in both frameworks, and the learnable-value counts.

The course initialises every Gluon network with ``init.Xavier()`` (gluonbook, MXNet edition,
§5.5 onwards: ``net.initialize(force_reinit=True, ctx=ctx, init=init.Xavier())``).  The torch
port trains from the same distribution in gluonbook's experiments (:func:`xavier_like_gluon`);
the parity checks go further and give it the Gluon network's very values (``weights.transfer``).
"""
from __future__ import annotations


def initialize_gluon(block, input_shape, init=None, ctx=None, dtype: str = "float32"):
    """Initialise a fresh Gluon block (Xavier by default), infer its shapes, cast it to ``dtype``.

    Args:
        block: an un-initialised (or to be re-initialised) Gluon block.
        input_shape: ``(N, C, H, W)`` of one batch; only ``C, H, W`` are used.
        init: an ``mx.init`` initialiser; ``init.Xavier()`` if None.
        ctx: an MXNet context; CPU if None.
        dtype: the dtype the block holds on return.

    Returns:
        ``block``, every parameter concrete.  ``mx.nd.waitall()`` runs last: with oneDNN,
        reading weights right after the first (shape-inferring) forward can otherwise
        return half-reordered values.
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


def xavier_like_gluon(module) -> None:
    """Gluon's ``init.Xavier()`` in torch: Xavier-uniform weights, zero biases, BN gamma 1 / beta 0.

    Gluon's Xavier (uniform, ``magnitude=3``, ``factor_type="avg"``) is torch's
    ``xavier_uniform_`` with gain 1; Gluon initialises biases to zero where torch draws them.
    BatchNorm layers keep their constructor values, which are Gluon's.
    """
    from torch import nn

    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def gluon_param_count(block) -> int:
    """Learnable values: every Parameter except BatchNorm's running statistics."""
    from modern_cnns.parity.weights.state import gluon_params

    return sum(int(p.data().size) for name, p in gluon_params(block).items()
               if not name.endswith(("running_mean", "running_var")))


def torch_param_count(module) -> int:
    """Learnable values: every ``nn.Parameter``."""
    return sum(p.numel() for p in module.parameters())
