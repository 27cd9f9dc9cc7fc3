"""PyTorch ports of the ``mxnet.gluon.nn`` layers the course uses, with Gluon's semantics.

Each class takes Gluon's constructor arguments (plus the input size, which
PyTorch cannot defer) so that a torch network reads line for line like its Gluon
twin and keeps the same child indices, which is what lets weights move by name:

* ``Conv2D`` and ``Dense`` take Gluon's ``activation=`` argument; ``Dense``
  flattens all axes but the first, as Gluon's ``flatten=True`` does, so no extra
  ``nn.Flatten`` shifts the indices of the layers after it.
* ``BatchNorm`` reproduces Gluon's ``nn.BatchNorm`` rather than ``nn.BatchNorm2d``;
  see its docstring for every difference it accounts for.

Parameters keep PyTorch's names (``weight``, ``bias``, ``running_mean``,
``running_var``), so their ``state_dict`` also loads into stock torch layers.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {None: None, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def _activation(name):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unsupported activation {name!r}; valid: {sorted(k for k in _ACTIVATIONS if k)}")
    return _ACTIVATIONS[name]


def _require(value, what, layer):
    if not value or value <= 0:
        raise ValueError(f"{layer} needs {what}: PyTorch cannot infer it from the first input as "
                         "Gluon's deferred initialisation does")
    return value


class Conv2D(nn.Conv2d):
    """Gluon ``nn.Conv2D(channels, kernel_size, strides, padding, ..., activation, in_channels)``."""

    def __init__(self, channels, kernel_size, strides=1, padding=0, dilation=1, groups=1,
                 activation=None, use_bias=True, in_channels=0):
        super().__init__(_require(in_channels, "in_channels", "Conv2D"), channels, kernel_size,
                         stride=strides, padding=padding, dilation=dilation, groups=groups, bias=use_bias)
        self.activation = activation
        self._act = _activation(activation)

    def forward(self, input):  # torch's name for it: a caller may pass input=
        y = super().forward(input)
        return y if self._act is None else self._act(y)

    def extra_repr(self):
        return super().extra_repr() + (f", activation={self.activation}" if self.activation else "")


class Dense(nn.Linear):
    """Gluon ``nn.Dense(units, activation, use_bias, flatten=True, in_units)``."""

    def __init__(self, units, activation=None, use_bias=True, flatten=True, in_units=0):
        super().__init__(_require(in_units, "in_units", "Dense"), units, bias=use_bias)
        self.activation, self.flatten = activation, flatten
        self._act = _activation(activation)

    def forward(self, input):  # torch's name for it: a caller may pass input=
        x = input.reshape(input.shape[0], -1) if self.flatten else input
        y = super().forward(x)
        return y if self._act is None else self._act(y)

    def extra_repr(self):
        return super().extra_repr() + (f", activation={self.activation}" if self.activation else "")


class BatchNorm(nn.Module):
    """Gluon's ``nn.BatchNorm``, exactly, instead of ``nn.BatchNorm2d``'s semantics.

    What differs from ``nn.BatchNorm{1,2}d`` and why each choice is made:

    * **momentum** keeps Gluon's meaning: 0.9 keeps 90% of the old running value
      (``nn.BatchNorm2d`` would need 0.1).  Copying 0.9 verbatim into a torch layer
      is the classic port bug.
    * **running variance**: MXNet's CPU operator stores the *biased* batch
      variance; torch stores the unbiased one (n/(n-1) larger).
    * **when statistics update**: MXNet updates them in the *backward* pass of the
      operator.  A train-mode forward that is never back-propagated leaves them
      untouched; two ``backward(retain_graph=True)`` update twice.  We emulate that
      with a gradient hook on the output.  ``nn.BatchNorm2d`` updates in every
      train-mode forward, even under ``torch.no_grad()``.
    * **momentum in float32**: MXNet's operator keeps ``momentum`` as a C++
      float, so 0.9 is really 0.89999998; it is rounded the same way here, which
      matters only in float64 comparisons.  ``eps`` is a double in MXNet 1.9.1
      and stays exact (measured; ``test_batchnorm`` pins both).
    * ``scale=False`` is MXNet's ``fix_gamma``: gamma is used as 1, gets no
      gradient, and is overwritten with ones by the forward pass, as MXNet's
      native CPU operator does (its oneDNN operator skips the overwrite in
      prediction mode only; the output is the same either way).
      ``center=False`` freezes beta (no gradient) but still adds it, as Gluon
      does (``grad_req='null'``).  ``use_global_stats=True`` always
      normalises with the running statistics, in training too.
    * ``axis`` is the channel axis, any axis, as in Gluon.
    * **numerics**: the normalisation itself is torch's fused kernel
      (``F.batch_norm``), in training and prediction, with the rules above
      wrapped around it.  Its backward is one well-conditioned pass; the
      decomposed ``mean``/``var``/``sqrt`` autograd graph this layer used before
      lost up to 7e-5 of a float32 gamma gradient on channels constant over the
      batch, and 0.41 of a DenseNet input gradient on an AVX2 CPU.  The one case
      the fused kernel refuses, one value per channel (a dense batch of 1), is
      written out: Gluon outputs beta there.

    GPU (``x.is_cuda``): MXNet's cuDNN path is reported to store the *unbiased*
    variance and to update the statistics in the *forward* pass.  That is what this
    layer does on CUDA tensors, but it is **not verified on hardware here** (no GPU
    was available to run MXNet's cuDNN BatchNorm); ``cudnn_semantics`` overrides
    the choice (``True``/``False``) where it proves wrong.
    """

    running_mean: torch.Tensor  #: buffers (register_buffer), declared for type checkers
    running_var: torch.Tensor

    def __init__(self, axis=1, momentum=0.9, epsilon=1e-5, center=True, scale=True,
                 use_global_stats=False, in_channels=0, cudnn_semantics=None):
        super().__init__()
        num_features = _require(in_channels, "in_channels", "BatchNorm")
        self.axis = axis
        self.momentum = float(np.float32(momentum))
        self.epsilon = float(epsilon)
        self.center, self.scale, self.use_global_stats = center, scale, use_global_stats
        self.cudnn_semantics = cudnn_semantics
        self.weight = nn.Parameter(torch.ones(num_features), requires_grad=scale)
        self.bias = nn.Parameter(torch.zeros(num_features), requires_grad=center)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    @property
    def num_features(self):
        return self.weight.shape[0]

    def extra_repr(self):
        return (f"{self.num_features}, axis={self.axis}, momentum={self.momentum}, eps={self.epsilon}, "
                f"center={self.center}, scale={self.scale}, use_global_stats={self.use_global_stats}")

    def _uses_cudnn(self, x):
        return x.is_cuda if self.cudnn_semantics is None else self.cudnn_semantics

    @torch.no_grad()
    def _update_running(self, mean, var):
        m = self.momentum
        self.running_mean.mul_(m).add_(mean.to(self.running_mean.dtype), alpha=1 - m)
        self.running_var.mul_(m).add_(var.to(self.running_var.dtype), alpha=1 - m)

    def forward(self, x):
        if not self.scale:
            with torch.no_grad():
                self.weight.fill_(1)
        axis = self.axis % x.dim()
        # torch's fused kernels want the channels on axis 1: move them there and back (a view).
        xc = x if axis == 1 else x.movedim(axis, 1)
        if not self.training or self.use_global_stats:
            y = F.batch_norm(xc, self.running_mean, self.running_var, self.weight, self.bias,
                             training=False, eps=self.epsilon)
        else:
            y = self._train_forward(xc)
        return y if axis == 1 else y.movedim(1, axis)

    def _train_forward(self, x):
        """Normalise with the batch statistics; schedule the running-statistics update."""
        dims = [d for d in range(x.dim()) if d != 1]
        count = x.numel() // x.shape[1]
        if count == 1:
            # One value per channel (a dense batch of 1): the variance is 0 and Gluon outputs beta
            # with a zero input gradient.  torch's fused kernel refuses this case, so it is written out.
            mean = x.mean(dim=dims, keepdim=True)
            y = (x - mean) / torch.sqrt(torch.zeros_like(mean) + self.epsilon) * self._shape(self.weight, x) \
                + self._shape(self.bias, x)
            with torch.no_grad():
                batch_mean = mean.detach().flatten()
                batch_var = torch.zeros_like(batch_mean)
        else:
            # The fused kernel: its backward is one well-conditioned pass (the decomposed
            # mean/var/sqrt graph loses up to 0.4 relative in float32 through a deep network).
            # It also returns the batch mean and 1/sqrt(var + eps), from which the *biased* variance
            # MXNet's CPU operator stores is recovered without a second pass over x (which cost
            # ~40% of the layer): within 3e-15 relative in float64, a few ulps in float32.
            y, batch_mean, invstd = torch.native_batch_norm(x, self.weight, self.bias, None, None, True, 0.0,
                                                            self.epsilon)
            with torch.no_grad():
                batch_mean = batch_mean.detach()
                batch_var = (invstd.detach().pow(-2) - self.epsilon).clamp_(min=0)
        if self._uses_cudnn(x):
            self._update_running(batch_mean, batch_var * count / max(count - 1, 1))
        elif y.requires_grad:
            y.register_hook(lambda grad: self._update_running(batch_mean, batch_var))
        return y

    @staticmethod
    def _shape(t, x):
        return t.reshape([1, -1] + [1] * (x.dim() - 2))


def global_avg_pool2d():
    """Gluon ``nn.GlobalAvgPool2D``: (N, C, H, W) -> (N, C, 1, 1)."""
    return nn.AdaptiveAvgPool2d(1)


def use_gluon_batchnorm(module: nn.Module) -> nn.Module:
    """Swap every stock ``nn.BatchNorm1d/2d/3d`` in ``module`` for :class:`BatchNorm`; return ``module``.

    The replacement keeps each layer's weights, running statistics, eps and device/dtype, and
    computes what MXNet's BatchNorm computes: the biased running variance, the update in backward,
    momentum in Gluon's convention (torch's 0.1 becomes Gluon's 0.9).  Use it to verify a port
    whose only difference from its Gluon original is torch's BatchNorm convention.

    Raises:
        ValueError: for a layer without running statistics (``track_running_stats=False``) or with
            a momentum of None (cumulative averaging), which Gluon has no equivalent of.
    """
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            # stock layers only (a subclass may mean something else); isinstance tells type checkers so
            if type(child) not in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d) \
                    or not isinstance(child, nn.modules.batchnorm._BatchNorm):
                continue
            mean, var = child.running_mean, child.running_var
            if not child.track_running_stats or child.momentum is None or mean is None or var is None:
                raise ValueError(f"{name}: {child} has no Gluon equivalent (track_running_stats=False or "
                                 "momentum=None)")
            gluon_bn = BatchNorm(momentum=1.0 - child.momentum, epsilon=child.eps, center=child.affine,
                                 scale=child.affine, in_channels=child.num_features)
            gluon_bn.to(device=mean.device, dtype=mean.dtype)
            with torch.no_grad():
                if child.affine:
                    gluon_bn.weight.copy_(child.weight)
                    gluon_bn.bias.copy_(child.bias)
                gluon_bn.running_mean.copy_(mean)
                gluon_bn.running_var.copy_(var)
            gluon_bn.train(child.training)
            setattr(parent, name, gluon_bn)
    return module
