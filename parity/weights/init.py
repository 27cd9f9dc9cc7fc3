"""Initialisation: how each experiment's networks start, in both frameworks; learnable-value counts.

gluonbook initialises every Gluon network with ``init.Xavier()`` (its ``train_ch5``, defined in
§5.6 LeNet: ``net.initialize(force_reinit=True, ctx=ctx, init=init.Xavier())``).  The torch
port trains from the same distribution in gluonbook's experiments (:func:`xavier_like_gluon`);
the parity checks go further and give it the Gluon network's very values (``weights.transfer``).

d2l 1.0's AlexNet and DenseNet never get their ``init_cnn`` (it tests the exact layer type,
and their layers are still Lazy when it runs: ``torch_impl.d2l_lazy``), so the course trained
them from PyTorch's default initialisation.  Those experiments (``init="torch_default"``) build
the torch network seeded with its default draw (:func:`torch_start`) and start the Gluon twin
from the very same weights (:func:`gluon_start`), since MXNet has no initialiser that draws
PyTorch's distributions (weights *and* biases from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``).
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


XAVIER, TORCH_DEFAULT = "xavier", "torch_default"


def torch_start(entry, exp, seed):
    """The experiment's torch network as it starts: seeded, PyTorch's default initialisation.

    The torch side of every run builds its network here, and the Gluon side of a
    ``"torch_default"`` experiment rebuilds it here to copy its weights: same seed, same draw.
    """
    import torch

    torch.manual_seed(seed)
    return entry.build_torch(**exp.torch_overrides)


def torch_initialiser(exp):
    """What ``train_ch6`` applies to the PyTorch editions' networks before training, or None.

    ``"ch6"``: d2l 0.17's ``init_weights``; ``"d2l1"``: d2l 1.0's ``init_cnn`` where the course's
    cell reaches the layers, nothing where it does not (``init="torch_default"``: the network keeps
    :func:`torch_start`'s draw).  (gluonbook's runs, ``"ch5"``, start from :func:`xavier_like_gluon`.)
    """
    from modern_cnns.torch_impl.train import init_cnn, init_weights_ch6

    if exp.init == TORCH_DEFAULT:
        return None
    return {"ch6": init_weights_ch6, "d2l1": init_cnn}[exp.loop]


def gluon_start(block, entry, exp, seed, ctx):
    """Initialise the experiment's Gluon block as the course's run starts; return it.

    ``"xavier"``: gluonbook's ``init.Xavier()``.  ``"torch_default"``: the weights of
    :func:`torch_start` (same ``seed``), copied by name (``weights.transfer``).
    """
    import mxnet as mx

    if exp.init != TORCH_DEFAULT:
        block.initialize(ctx=ctx, init=mx.init.Xavier(), force_reinit=True)
        return block
    from modern_cnns.parity.weights.transfer import torch_to_gluon

    initialize_gluon(block, entry.batch_shape(1), ctx=ctx)
    torch_to_gluon(torch_start(entry, exp, seed), block, example_input=entry.batch_shape(1))
    mx.nd.waitall()
    return block


def gluon_param_count(block) -> int:
    """Learnable values: every Parameter except BatchNorm's running statistics."""
    from modern_cnns.parity.weights.state import gluon_params

    return sum(int(p.data().size) for name, p in gluon_params(block).items()
               if not name.endswith(("running_mean", "running_var")))


def torch_param_count(module) -> int:
    """Learnable values: every ``nn.Parameter``."""
    return sum(p.numel() for p in module.parameters())
