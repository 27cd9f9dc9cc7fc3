"""What some MXNet 1.9.1 kernels compute, written in torch (or in Gluon), for the zoo reviews' control runs.

A review that blames a framework kernel shows it by making the port round as MXNet does: the check that failed
must then pass.  Each function here says what the kernel does and where that was measured
(``benchmarks/zoo_reviews.py`` prints the measurements).  None of them is used by the checker: a known
difference it accepts lives in ``modern_cnns/parity/verdict/known.py``, with tests.
"""
from __future__ import annotations

import numpy as np


def prelu_as_mxnet(module, inputs, output):
    """A forward hook for torch ``nn.PReLU``: in float64, MXNet's ``LeakyReLU(act_type='prelu')`` (gluoncv2's
    ``PReLU2``) computes its negative side as float32(x) * float32(gamma); its backward is exact float64 (the
    gradient to x is gamma, to gamma is x), so only the forward value is rounded here."""
    import torch

    x = inputs[0]
    if x.dtype != torch.float64:
        return None
    weight = module.weight
    if weight.numel() > 1:
        weight = weight.view(1, -1, *([1] * (x.dim() - 2)))
    exact = x * weight
    negative = exact + ((x.float() * weight.float()).double() - exact).detach()
    return torch.where(x > 0, x, negative)


def _resize_weights(n_in: int, n_out: int, dtype, coordinates: str):
    """Aligned-corner source rows (or columns) and weights: MXNet's ``contrib.BilinearResize2D`` (CPU) takes the
    scale (n_in-1)/(n_out-1) and each source coordinate in float32 whatever the data's dtype, then widens the
    fractional weight (``coordinates="float64"``: the exact resize)."""
    import torch

    kind = np.dtype(coordinates).type
    scale = kind((n_in - 1) / (n_out - 1)) if n_out > 1 else kind(0)
    source = scale * np.arange(n_out, dtype=kind)
    low = source.astype(np.int64)
    high = low + (low < n_in - 1)
    fraction = (source - low.astype(kind)).astype(np.float64)
    return torch.from_numpy(low), torch.from_numpy(high), torch.tensor(fraction, dtype=dtype)


def bilinear_as_mxnet(x, size, coordinates: str = "float32"):
    """An aligned-corner bilinear resize of an NCHW tensor to ``size`` (differentiable), rounded as MXNet's."""
    top, bottom, down = _resize_weights(x.shape[2], size[0], x.dtype, coordinates)
    left, right, across = _resize_weights(x.shape[3], size[1], x.dtype, coordinates)
    down, across = down.view(-1, 1), across.view(1, -1)

    def columns(rows):
        return (1 - across) * rows[:, :, :, left] + across * rows[:, :, :, right]
    return (1 - down) * columns(x[:, :, top]) + down * columns(x[:, :, bottom])


def interpolate_as_mxnet(original):
    """``torch.nn.functional.interpolate`` that resizes float64 bilinear aligned-corner NCHW input as MXNet does,
    and leaves every other call to ``original``.  (A function, not a module: a forward hook cannot reach it.)"""
    import torch

    def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, **kwargs):  # noqa: A002
        if input.dtype == torch.float64 and mode == "bilinear" and align_corners and input.dim() == 4:
            if size is None:
                factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
                size = (int(input.shape[2] * factors[0]), int(input.shape[3] * factors[1]))
            return bilinear_as_mxnet(input, tuple(size))
        return original(input, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners,
                        **kwargs)
    return interpolate


def bilinear_up_as_mxnet():
    """A stand-in for pytorchcv's ``InterpolationBlock`` (called ``up(x, size=...)``) that computes what gluoncv2's
    computes there: MXNet's bilinear aligned-corner resize, in every dtype."""
    import torch

    class BilinearUp(torch.nn.Module):
        def forward(self, x, size):
            return bilinear_as_mxnet(x, tuple(size))
    return BilinearUp()


def give_gluon_instance_norm_a_float64_path() -> None:
    """MXNet's ``InstanceNorm`` operator has no float64 kernel.  Gluon's ``nn.InstanceNorm`` is given, in float64
    only, the same formula (biased variance over each sample's channel, eps inside the root, then gamma and beta);
    float32 keeps MXNet's own kernel.  Process-wide: call it in a run of its own."""
    from mxnet.gluon import nn

    def hybrid_forward(self, F, x, gamma, beta):  # noqa: N803 (MXNet's signature)
        if np.dtype(self.gamma.dtype) != np.float64:
            return F.InstanceNorm(x, gamma, beta, name="fwd", eps=self._epsilon)
        mean = F.mean(x, axis=(2, 3), keepdims=True)
        centred = F.broadcast_sub(x, mean)
        var = F.mean(F.square(centred), axis=(2, 3), keepdims=True)
        normed = F.broadcast_div(centred, F.sqrt(var + self._epsilon))
        return F.broadcast_add(F.broadcast_mul(normed, gamma.reshape((1, -1, 1, 1))), beta.reshape((1, -1, 1, 1)))

    nn.InstanceNorm.hybrid_forward = hybrid_forward
