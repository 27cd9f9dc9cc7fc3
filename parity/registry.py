"""The catalog: every course network, its Gluon and PyTorch builders, and its input shape.

The registry is the single source of truth: a network exists when it has an entry
here.  Builders are named as ``"module:function"`` strings and imported on demand,
so this module loads (and ``python -m parity list`` runs) where only one of the
two frameworks is installed.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    name: str
    gluon: str              # "module:callable" in gluon_impl
    torch: str              # "module:callable" in torch_impl
    input_shape: tuple      # (C, H, W) the course trains on
    notes: str
    num_classes: int = 10
    kwargs: dict = field(default_factory=dict)
    dropout: bool = False   # has Dropout: training checks run with the rate set to 0 in both
    #: batch for the parity checks: 4 where BatchNorm needs several samples to be well
    #: conditioned (a dense BN over 2 samples outputs +-1 whatever the input), 1 for the
    #: BN-free 224x224 networks, whose float64 convolutions dominate the sweep's time.
    check_batch_size: int = 4

    def _builder(self, spec):
        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr)

    def _kwargs(self, overrides):
        return {"num_classes": self.num_classes, **self.kwargs, **overrides}

    def build_gluon(self, **overrides):
        """A fresh, un-initialised Gluon block."""
        return self._builder(self.gluon)(**self._kwargs(overrides))

    def build_torch(self, **overrides):
        """A fresh torch module (PyTorch's default initialisation)."""
        return self._builder(self.torch)(**self._kwargs(overrides))

    def batch_shape(self, batch_size=1):
        return (batch_size,) + tuple(self.input_shape)


_MNIST, _96, _224 = (1, 28, 28), (1, 96, 96), (1, 224, 224)

ENTRIES = [
    Entry("lenet", "gluon_impl.lenet:lenet", "torch_impl.lenet:lenet", _MNIST,
          "gluonbook LeNet: sigmoid, max pooling, no padding"),
    Entry("lenet_d2l", "gluon_impl.lenet:lenet_d2l", "torch_impl.lenet:lenet_d2l", _MNIST,
          "d2l PyTorch LeNet: sigmoid, average pooling, first conv padded by 2"),
    Entry("bn_lenet_scratch", "gluon_impl.lenet:bn_lenet_scratch", "torch_impl.lenet:bn_lenet_scratch",
          _MNIST, "seed 004: scratch BatchNorm (moving_var zeros), max pooling"),
    Entry("bn_lenet_concise", "gluon_impl.lenet:bn_lenet_concise", "torch_impl.lenet:bn_lenet_concise",
          _MNIST, "seed 004: nn.BatchNorm, max pooling"),
    Entry("bn_lenet_scratch_d2l", "gluon_impl.lenet:bn_lenet_scratch_d2l",
          "torch_impl.lenet:bn_lenet_scratch_d2l", _MNIST,
          "seed 003 (d2l 0.17): scratch BatchNorm (moving_var ones, momentum 0.9), average pooling",
          kwargs={"edition": "0.17"}),
    Entry("bn_lenet_scratch_d2l_v1", "gluon_impl.lenet:bn_lenet_scratch_d2l",
          "torch_impl.lenet:bn_lenet_scratch_d2l", _MNIST,
          "seed 002 (d2l 1.0): scratch BatchNorm (moving_var ones, momentum 0.1 on the new value)",
          kwargs={"edition": "1.0"}),
    Entry("bn_lenet_concise_d2l", "gluon_impl.lenet:bn_lenet_concise_d2l",
          "torch_impl.lenet:bn_lenet_concise_d2l", _MNIST,
          "seeds 002/003: built-in BatchNorm, average pooling, explicit Flatten"),
    Entry("alexnet", "gluon_impl.alexnet:AlexNet", "torch_impl.alexnet:AlexNet", _224,
          "seed 002 AlexNet (first conv padded by 1), dropout 0.5", dropout=True, check_batch_size=1),
    Entry("vgg11", "gluon_impl.vgg:vgg11", "torch_impl.vgg:vgg11", _224,
          "VGG-11: arch ((1,64),(1,128),(2,256),(2,512),(2,512)), dropout 0.5", dropout=True, check_batch_size=1),
    Entry("vgg_small", "gluon_impl.vgg:vgg_small", "torch_impl.vgg:vgg_small", _224,
          "the course's small VGG: arch ((1,16),(1,32),(2,64),(2,128),(2,128))", dropout=True, check_batch_size=1),
    Entry("nin", "gluon_impl.nin:NiN", "torch_impl.nin:NiN", _224,
          "seed 002 NiN: nin blocks, global average pooling, dropout 0.5", dropout=True, check_batch_size=1),
    Entry("googlenet", "gluon_impl.googlenet:GoogLeNet", "torch_impl.googlenet:GoogLeNet", _96,
          "d2l GoogLeNet at 96x96 (not in the seeds; built from d2l)"),
    # Its last stage runs at 1x1: BN normalises over the batch alone, which 4 samples leave
    # ill-conditioned (float64 trajectories then part at 2e-10); 8 keeps them at 5e-12.
    Entry("resnet", "gluon_impl.resnet:resnet", "torch_impl.resnet:resnet", _MNIST,
          "seed 004 ResNet: 3 residuals per stage, 28x28 input", check_batch_size=8),
    Entry("resnet18", "gluon_impl.resnet:resnet18", "torch_impl.resnet:resnet18", _96,
          "d2l ResNet-18: 2 residuals per stage, 96x96 input"),
    Entry("densenet", "gluon_impl.densenet:DenseNet", "torch_impl.densenet:DenseNet", _96,
          "seed 004 DenseNet: growth 32, arch (4,4,4,4), gluonbook's transition widths (96,160,224)"),
]

REGISTRY = {entry.name: entry for entry in ENTRIES}


class UnknownNetwork(KeyError):
    def __str__(self):
        return self.args[0]


def get(name: str) -> Entry:
    """The entry called ``name``; an unknown name raises an error listing the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownNetwork(f"unknown network {name!r}; valid names: {', '.join(REGISTRY)}") from None


def names():
    return list(REGISTRY)
