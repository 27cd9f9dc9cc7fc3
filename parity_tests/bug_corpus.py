"""A corpus of porting bugs: each a real mistake a porting engineer makes, injected into a correct port.

Every :class:`Bug` names the pair it breaks, the torch module where the bug lives (for a bug in a
layer without a module of its own: its nearest enclosing module), the category and the true cause
(a key of :data:`CAUSES`, whose pattern a diagnosis naming that cause matches).  The pairs are
small on purpose (28-32 px inputs): ``benchmarks/score_diagnosis.py`` runs the whole corpus on a
shared 2-core machine in minutes, and ``test_bug_corpus`` checks the bugs whose effect is far above
any tolerance.

Pairs: the registry's own course networks (hand-written Gluon/torch pairs), two hand-written
pairs built here (``mini``: conv/BatchNorm/pooling/dropout/dense; ``leaky``: LeakyReLU and GELU),
gluoncv 0.10.5 against torchvision 0.28 and gluoncv2 0.0.64 against pytorchcv 0.0.74.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from parity_tests.conftest import REPO


# --------------------------------------------------------------------------- the pairs
@dataclass(frozen=True)
class CorpusPair:
    """A correct port: how to build both models and how to check them."""

    name: str
    gluon: Callable                 #: () -> Gluon block (uninitialised)
    torch: Callable                 #: () -> torch module, the port as its author wrote it
    input_shape: tuple
    options: dict = field(default_factory=dict)   #: further check_pair keywords (positional, zero_frozen)
    gluon_batchnorm: bool = False   #: the port is checked with use_gluon_batchnorm applied (as its CLI flag)
    accept: tuple = ()              #: known framework differences the pair needs accepted (new API only)
    dtype: str = "float64"          #: the dtype it is scored in


def _registry(name, side):
    def build():
        from modern_cnns.parity.catalog import registry

        entry = registry.get(name)
        return entry.build_gluon() if side == "gluon" else entry.build_torch()
    return build


def _zoo(name):
    def build():
        sys.path.insert(0, str(REPO))
        from examples import zoo_pairs

        return getattr(zoo_pairs, name)()
    return build


def _gluoncv2(name):
    def build():
        from gluoncv2.model_provider import get_model

        return get_model(name)
    return build


def _pytorchcv(name):
    def build():
        from modern_cnns.torch_impl.torchvision_compat import import_torchvision

        import_torchvision()
        from pytorchcv.model_provider import get_model

        return get_model(name)
    return build


def gluon_mini():
    """A small hand-written Gluon network with the layers ports get wrong (3x32x32 in, 10 classes)."""
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1, use_bias=False),    # 0
            nn.BatchNorm(),                                 # 1
            nn.Activation("relu"),                          # 2
            nn.MaxPool2D(3, 2, 1),                          # 3: 32 -> 16
            nn.Conv2D(16, 3, padding=1),                    # 4
            nn.BatchNorm(),                                 # 5
            nn.Activation("relu"),                          # 6
            nn.AvgPool2D(3, 2, 1),                          # 7: 16 -> 8, padding counted (Gluon's default)
            nn.Conv2D(16, 3, padding=1, groups=2),          # 8
            nn.Activation("sigmoid"),                       # 9
            nn.GlobalAvgPool2D(),                           # 10
            nn.Flatten(),                                   # 11
            nn.Dropout(0.3),                                # 12
            nn.Dense(16),                                   # 13
            nn.Dense(10))                                   # 14
    return net


def torch_mini():
    """The correct port of :func:`gluon_mini`: the same children at the same indices."""
    from torch import nn

    from modern_cnns.torch_impl import gluon_layers as gl

    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), gl.BatchNorm(in_channels=8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        nn.Conv2d(8, 16, 3, padding=1), gl.BatchNorm(in_channels=16), nn.ReLU(), nn.AvgPool2d(3, 2, 1),
        nn.Conv2d(16, 16, 3, padding=1, groups=2), nn.Sigmoid(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.3), nn.Linear(16, 16), nn.Linear(16, 10))


def gluon_leaky():
    """A darknet-like Gluon network: LeakyReLU(0.1) and GELU (3x32x32 in)."""
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1, use_bias=False), nn.BatchNorm(), nn.LeakyReLU(0.1),
            nn.Conv2D(8, 3, strides=2, padding=1), nn.GELU(), nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(10))
    return net


def torch_leaky():
    from torch import nn

    from modern_cnns.torch_impl import gluon_layers as gl

    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), gl.BatchNorm(in_channels=8), nn.LeakyReLU(0.1),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))


def gluon_fused():
    """A Gluon network of conv-BatchNorm-ReLU blocks whose ReLU is applied inside the block's forward, as
    zoos write them (no activation layer of its own); 3x32x32 in."""
    from mxnet.gluon import nn

    class ConvBNReLU(nn.HybridBlock):
        def __init__(self, channels, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.conv = nn.Conv2D(channels, 3, padding=1, use_bias=False)
                self.bn = nn.BatchNorm()

        def hybrid_forward(self, F, x):
            return F.relu(self.bn(self.conv(x)))

    net = nn.HybridSequential()
    net.add(ConvBNReLU(8), nn.MaxPool2D(2), ConvBNReLU(16), nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(10))
    return net


def _torch_conv_bn_relu():
    from torch import nn

    from modern_cnns.torch_impl import gluon_layers as gl

    class ConvBNReLU(nn.Module):
        """The port of the Gluon block: the ReLU in the forward too."""

        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
            self.bn = gl.BatchNorm(in_channels=cout)

        def activation(self, x):
            return x.relu()

        def forward(self, x):
            return self.activation(self.bn(self.conv(x)))
    return ConvBNReLU


def torch_fused():
    from torch import nn

    block = _torch_conv_bn_relu()
    return nn.Sequential(block(3, 8), nn.MaxPool2d(2), block(8, 16), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, 10))


_C32 = (3, 32, 32)
PAIRS = {p.name: p for p in (
    CorpusPair("lenet", _registry("lenet", "gluon"), _registry("lenet", "torch"), (1, 28, 28)),
    CorpusPair("lenet_d2l", _registry("lenet_d2l", "gluon"), _registry("lenet_d2l", "torch"), (1, 28, 28)),
    CorpusPair("bn_lenet_concise", _registry("bn_lenet_concise", "gluon"), _registry("bn_lenet_concise", "torch"),
               (1, 28, 28)),
    CorpusPair("mini", gluon_mini, torch_mini, _C32),
    # float32: MXNet's float64 GELU is accurate to float32 only (parity/verdict/known.py)
    CorpusPair("leaky", gluon_leaky, torch_leaky, _C32, dtype="float32"),
    CorpusPair("fused", gluon_fused, torch_fused, _C32),
    CorpusPair("gluoncv_resnet18", _zoo("gluoncv_resnet18"), _zoo("torchvision_resnet18"), _C32,
               gluon_batchnorm=True),
    CorpusPair("gluoncv2_resnet20", _gluoncv2("resnet20_cifar10"), _pytorchcv("resnet20_cifar10"), _C32,
               {"positional": True}, gluon_batchnorm=True),
    CorpusPair("gluoncv2_seresnet20", _gluoncv2("seresnet20_cifar10"), _pytorchcv("seresnet20_cifar10"), _C32,
               {"positional": True}, gluon_batchnorm=True),
    CorpusPair("gluoncv2_nin", _gluoncv2("nin_cifar10"), _pytorchcv("nin_cifar10"), _C32, {"positional": True}),
)}


# --------------------------------------------------------------------------- the causes
#: cause -> a pattern that a diagnosis naming that cause matches (case-insensitive)
CAUSES = {
    "batchnorm eps": r"\beps\b",
    "momentum value": r"momentum value",
    "momentum convention": r"momentum convention",
    "variance convention": r"unbiased",
    "affine off": r"affine|scale=False|fixes gamma",
    "conv stride": r"conv\w* stride|stride.*conv",
    "conv padding": r"conv\w* padding|padding.*conv",
    "conv dilation": r"dilation",
    "conv groups": r"groups",
    "conv bias": r"bias",
    "pooling type": r"pooling type|max.{0,20}avg|avg.{0,20}max",
    "pooling kernel": r"pool\w* kernel|kernel.*pool",
    "pooling stride": r"pool\w* stride|stride.*pool",
    "pooling padding": r"pool\w* padding|padding.*pool",
    "ceil_mode": r"ceil_mode",
    "count_include_pad": r"count_include_pad",
    "global vs fixed pooling": r"global|adaptive|input size",
    "activation type": r"activation",
    "relu6": r"relu6",
    "hard sigmoid": r"hard ?sigmoid",
    "gelu approximation": r"gelu.*(tanh|approximat)",
    "leakyrelu slope": r"slope",
    "flatten order": r"flatten",
    "missing layer": r"missing|only in gluon|gluon only",
    "extra layer": r"extra|only in torch|torch only",
    "dropout rate": r"dropout.*(rate|p=)",
    "dropout position": r"dropout.*(position|after)",
    "stride position": r"stride",
    "transposed weight": r"transpos",
    "clip": r"clips or saturates|clamp",
    "batchnorm running mean": r"running mean",
}


# --------------------------------------------------------------------------- the bugs
@dataclass(frozen=True)
class Bug:
    """One porting bug: ``mutate(module)`` turns the pair's correct port into the buggy one (in place)."""

    name: str
    pair: str
    category: str
    module: str       #: the torch module where the bug lives (its nearest enclosing module)
    cause: str        #: a key of CAUSES
    mutate: Callable


def _set(path, **attrs):
    def mutate(module):
        target = module.get_submodule(path)
        for attr, value in attrs.items():
            setattr(target, attr, value)
    return mutate


def _replace(path, make):
    def mutate(module):
        parent, _, child = path.rpartition(".")
        owner = module.get_submodule(parent) if parent else module
        setattr(owner, child, make(owner.get_submodule(child)))  # registers it under the same name
    return mutate


def _each(kind, **attrs):
    """Set ``attrs`` on every module of class name ``kind``."""
    def mutate(module):
        for mod in module.modules():
            if type(mod).__name__ == kind:
                for attr, value in attrs.items():
                    setattr(mod, attr, value)
    return mutate


def _both(*mutations):
    def mutate(module):
        for m in mutations:
            m(module)
    return mutate


def _nn(name, *args, **kwargs):
    def make(_old):
        from torch import nn

        return getattr(nn, name)(*args, **kwargs)
    return make


def _gl_batchnorm(channels, **kwargs):
    def make(old):
        from modern_cnns.torch_impl import gluon_layers as gl

        return gl.BatchNorm(in_channels=channels, **kwargs)
    return make


def _stock_batchnorm(kind, channels):
    def make(old):
        from torch import nn

        return getattr(nn, kind)(channels)
    return make


def _insert_after(path, new_name, make):
    """Insert ``make(None)`` into the Sequential holding ``path``, right after it, as ``new_name``
    (an extra layer in a port whose other names stay as they were)."""
    def mutate(module):
        parent, _, child = path.rpartition(".")
        owner = module.get_submodule(parent) if parent else module
        items = list(owner._modules.items())
        owner._modules.clear()
        for name, mod in items:
            owner._modules[name] = mod
            if name == child:
                owner._modules[new_name] = make(None)
    return mutate


def _avg_like(old):
    """An average pooling with the max pooling's own window: only the type changes."""
    from torch import nn

    return nn.AvgPool2d(old.kernel_size, old.stride, old.padding, ceil_mode=old.ceil_mode)


def _channel_shuffle(_old):
    from torch import nn

    class ChannelShuffle(nn.Module):
        def forward(self, x):
            n, c, h, w = x.shape
            return x.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
    return ChannelShuffle()


def _nhwc_flatten(_old):
    from torch import nn

    class FlattenNHWC(nn.Module):
        """TensorFlow-style flatten: channels last."""
        def forward(self, x):
            return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
    return FlattenNHWC()


def _transposed_linear(old):
    """A hand-written dense layer computing ``x @ W`` where the original computes ``x @ W.T``."""
    import torch.nn.functional as F
    from torch import nn

    class MatmulDense(nn.Linear):
        def forward(self, x):
            return F.linear(x, self.weight.t(), self.bias)
    return MatmulDense(old.in_features, old.out_features)


def _functional_activation(function):
    """The block's activation (a ReLU in its forward) replaced by ``function(x)``: no module changes."""
    def make(old):
        import types

        old.activation = types.MethodType(lambda self, x: function(x), old)
        return old
    return make


def _clamp_0_6(x):
    return x.clamp(0.0, 6.0)


def _hardtanh_0_6(x):
    import torch.nn.functional as F

    return F.hardtanh(x, 0.0, 6.0)


def _batchnorm_without_mean(old):
    """A hand-written prediction-mode BatchNorm that forgets to subtract the running mean."""
    import torch.nn.functional as F

    from modern_cnns.torch_impl import gluon_layers as gl

    class MeanlessBatchNorm(gl.BatchNorm):
        def forward(self, x):
            if self.training:
                return super().forward(x)
            return F.batch_norm(x, self.running_mean * 0, self.running_var, self.weight, self.bias, False, 0.0,
                                self.epsilon)

    new = MeanlessBatchNorm(in_channels=old.weight.shape[0])
    new.load_state_dict(old.state_dict())
    return new


def _stride(path, conv_stride):
    return _set(path, stride=(conv_stride, conv_stride))


BUGS = [
    # ----- BatchNorm
    Bug("bn eps 1e-3", "mini", "batchnorm", "1", "batchnorm eps", _set("1", epsilon=1e-3)),
    Bug("bn eps on a dense BatchNorm", "bn_lenet_concise", "batchnorm", "9", "batchnorm eps",
        _set("9", epsilon=1e-3)),
    Bug("bn eps 1e-3 (torchvision)", "gluoncv_resnet18", "batchnorm", "bn1", "batchnorm eps",
        _set("bn1", epsilon=1e-3)),
    Bug("bn momentum 0.99", "mini", "batchnorm", "5", "momentum value",
        _set("5", momentum=float(np.float32(0.99)))),
    Bug("bn momentum 0.99 everywhere", "gluoncv2_resnet20", "batchnorm", "features.init_block.bn", "momentum value",
        _each("BatchNorm", momentum=float(np.float32(0.99)))),
    Bug("bn momentum convention", "mini", "batchnorm", "1", "momentum convention", _set("1", momentum=0.1)),
    Bug("bn momentum convention (lenet)", "bn_lenet_concise", "batchnorm", "1", "momentum convention",
        _set("1", momentum=0.1)),
    Bug("stock torch BatchNorm2d", "mini", "batchnorm", "5", "variance convention",
        _replace("5", _stock_batchnorm("BatchNorm2d", 16))),
    Bug("stock torch BatchNorm1d", "bn_lenet_concise", "batchnorm", "9", "variance convention",
        _replace("9", _stock_batchnorm("BatchNorm1d", 120))),
    Bug("bn affine off", "mini", "batchnorm", "1", "affine off",
        _replace("1", _gl_batchnorm(8, scale=False, center=False))),
    # ----- convolution
    Bug("conv stride 2", "mini", "conv", "4", "conv stride", _stride("4", 2)),
    Bug("conv padding 0", "mini", "conv", "8", "conv padding", _set("8", padding=(0, 0))),
    Bug("conv padding (lenet_d2l)", "lenet_d2l", "conv", "0", "conv padding", _set("0", padding=(1, 1))),
    Bug("conv dilation 2", "mini", "conv", "4", "conv dilation", _set("4", dilation=(2, 2), padding=(2, 2))),
    Bug("conv groups 1 for 2", "mini", "conv", "8", "conv groups", _replace("8", _nn("Conv2d", 16, 16, 3, padding=1))),
    Bug("conv bias dropped", "mini", "conv", "4", "conv bias", _replace("4", _nn("Conv2d", 8, 16, 3, padding=1,
                                                                                  bias=False))),
    Bug("conv padding (resnet20)", "gluoncv2_resnet20", "conv", "features.stage2.unit1.body.conv2.conv",
        "conv padding", _set("features.stage2.unit1.body.conv2.conv", padding=(0, 0))),
    # ----- pooling
    Bug("max for avg pooling", "mini", "pooling", "3", "pooling type", _replace("3", _nn("AvgPool2d", 3, 2, 1))),
    Bug("max for avg pooling (lenet)", "lenet", "pooling", "1", "pooling type", _replace("1", _nn("AvgPool2d", 2, 2))),
    Bug("avg for max pooling (torchvision)", "gluoncv_resnet18", "pooling", "maxpool", "pooling type",
        _replace("maxpool", _nn("AvgPool2d", 3, 2, 1))),
    Bug("pool kernel 2 for 3", "mini", "pooling", "3", "pooling kernel", _set("3", kernel_size=2, padding=0)),
    Bug("pool stride 1", "mini", "pooling", "7", "pooling stride", _set("7", stride=1)),
    # a window larger than its input: torch's forward fails in that layer, which is still described
    Bug("pool kernel larger than its input", "mini", "pooling", "7", "pooling kernel", _set("7", kernel_size=20)),
    Bug("pool padding 0", "mini", "pooling", "3", "pooling padding", _set("3", padding=0)),
    Bug("ceil_mode", "mini", "pooling", "7", "ceil_mode", _set("7", ceil_mode=True)),
    Bug("count_include_pad off", "mini", "pooling", "7", "count_include_pad", _set("7", count_include_pad=False)),
    Bug("fixed for global pooling", "mini", "pooling", "10", "global vs fixed pooling",
        _replace("10", _nn("AvgPool2d", 8))),
    Bug("avg for max pooling (nin)", "gluoncv2_nin", "pooling", "features.stage2.pool2", "pooling type",
        _replace("features.stage2.pool2", _avg_like)),
    # ----- activations
    Bug("ReLU6 for ReLU", "mini", "activation", "2", "relu6", _replace("2", _nn("ReLU6"))),
    Bug("hard sigmoid for sigmoid", "mini", "activation", "9", "hard sigmoid", _replace("9", _nn("Hardsigmoid"))),
    Bug("hard sigmoid in an SE gate", "gluoncv2_seresnet20", "activation", "features.stage1.unit1.se.sigmoid",
        "hard sigmoid", _replace("features.stage1.unit1.se.sigmoid", _nn("Hardsigmoid"))),
    Bug("GELU tanh approximation", "leaky", "activation", "4", "gelu approximation",
        _replace("4", _nn("GELU", approximate="tanh"))),
    Bug("LeakyReLU slope 0.01", "leaky", "activation", "2", "leakyrelu slope", _set("2", negative_slope=0.01)),
    Bug("ReLU for sigmoid (lenet_d2l)", "lenet_d2l", "activation", "1", "activation type", _replace("1", _nn("ReLU"))),
    Bug("tanh for ReLU (nin)", "gluoncv2_nin", "activation", "features.stage1.unit2.activ", "activation type",
        _replace("features.stage1.unit2.activ", _nn("Tanh"))),
    # ----- flatten
    Bug("NHWC flatten", "lenet_d2l", "flatten", "6", "flatten order", _replace("6", _nhwc_flatten)),
    # ----- missing or extra layers
    Bug("ReLU missing", "mini", "layer", "6", "missing layer", _replace("6", _nn("Identity"))),
    Bug("ReLU missing (resnet20)", "gluoncv2_resnet20", "layer", "features.stage1.unit2.activ", "missing layer",
        _replace("features.stage1.unit2.activ", _nn("Identity"))),
    Bug("SE gate missing", "gluoncv2_seresnet20", "layer", "features.stage2.unit1.se", "missing layer",
        _replace("features.stage2.unit1.se", _nn("Identity"))),
    Bug("extra ReLU", "mini", "layer", "relu", "extra layer", _insert_after("13", "relu", _nn("ReLU"))),
    Bug("extra channel shuffle", "mini", "layer", "shuffle", "extra layer",
        _insert_after("8", "shuffle", _channel_shuffle)),
    # ----- dropout
    Bug("dropout rate 0.5 for 0.3", "mini", "dropout", "12", "dropout rate", _set("12", p=0.5)),
    Bug("dropout before the pooling", "mini", "dropout", "drop", "dropout position",
        _both(_insert_after("9", "drop", _nn("Dropout", 0.3)), _replace("12", _nn("Identity")))),
    Bug("dropout rate (nin)", "gluoncv2_nin", "dropout", "features.stage3.dropout3", "dropout rate",
        _set("features.stage3.dropout3", p=0.2)),
    # ----- where a stride sits
    Bug("stride on the second conv", "gluoncv_resnet18", "stride position", "layer2.0.conv1", "stride position",
        _both(_stride("layer2.0.conv1", 1), _stride("layer2.0.conv2", 2))),
    Bug("stride on the first conv (resnet20)", "gluoncv2_resnet20", "stride position",
        "features.stage2.unit1.body.conv1.conv", "stride position",
        _both(_stride("features.stage2.unit1.body.conv1.conv", 1),
              _stride("features.stage2.unit1.body.conv2.conv", 2))),
    # ----- clipping and saturation: values differ only for large activations (parity.verdict.probes)
    Bug("functional clamp(0, 6) for ReLU", "fused", "range", "0", "clip",
        _replace("0", _functional_activation(_clamp_0_6))),
    Bug("functional hardtanh(0, 6) for ReLU", "fused", "range", "2", "clip",
        _replace("2", _functional_activation(_hardtanh_0_6))),
    Bug("BatchNorm without the running mean", "fused", "range", "2.bn", "batchnorm running mean",
        _replace("2.bn", _batchnorm_without_mean)),
    # ----- weights
    Bug("dense weight used transposed", "mini", "weights", "13", "transposed weight",
        _replace("13", _transposed_linear)),
]


def build_pair(pair: CorpusPair, bug: Bug | None = None):
    """(gluon block, torch module) of ``pair``, ``bug`` injected into the port if given."""
    block, module = pair.gluon(), pair.torch()
    if pair.gluon_batchnorm:
        from modern_cnns.parity import use_gluon_batchnorm

        module = use_gluon_batchnorm(module)
    if bug is not None:
        bug.mutate(module)
    return block, module
