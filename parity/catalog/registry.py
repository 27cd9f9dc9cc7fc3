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
    """One network of the course: its Gluon and torch builders, its input and what it is."""
    name: str
    gluon: str              # "module:callable" in gluon_impl
    torch: str              # "module:callable" in torch_impl
    input_shape: tuple      # (C, H, W) the course trains on
    notes: str              # what the network is, in a line; where it comes from is ``source``
    num_classes: int = 10
    kwargs: dict = field(default_factory=dict)
    torch_kwargs: dict = field(default_factory=dict)  # for the torch builder only (e.g. the edition's stock BN)
    dropout: bool = False   # has Dropout: training checks run with the rate set to 0 in both

    def _builder(self, spec):
        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(f"modern_cnns.{module}"), attr)

    def _kwargs(self, overrides):
        return {"num_classes": self.num_classes, **self.kwargs, **overrides}

    def build_gluon(self, **overrides):
        """A fresh, un-initialised Gluon block."""
        return self._builder(self.gluon)(**self._kwargs(overrides))

    def build_torch(self, **overrides):
        """A fresh torch module (PyTorch's default initialisation)."""
        return self._builder(self.torch)(**self._kwargs({**self.torch_kwargs, **overrides}))

    def batch_shape(self, batch_size=1):
        """``(batch_size, C, H, W)``."""
        return (batch_size,) + tuple(self.input_shape)

    @property
    def source(self):
        """Where the network comes from (:mod:`parity.catalog.provenance`)."""
        from modern_cnns.parity.catalog.provenance import network_source

        return network_source(self.name)


_MNIST, _96, _224 = (1, 28, 28), (1, 96, 96), (1, 224, 224)

ENTRIES = [
    Entry("lenet", "gluon_impl.lenet:lenet", "torch_impl.lenet:lenet", _MNIST,
          "sigmoid, max pooling, no padding"),
    Entry("lenet_d2l", "gluon_impl.lenet:lenet_d2l", "torch_impl.lenet:lenet_d2l", _MNIST,
          "sigmoid, average pooling, first conv padded by 2"),
    Entry("bn_lenet_scratch", "gluon_impl.lenet:bn_lenet_scratch", "torch_impl.lenet:bn_lenet_scratch",
          _MNIST, "scratch BatchNorm (moving_var zeros), max pooling"),
    Entry("bn_lenet_concise", "gluon_impl.lenet:bn_lenet_concise", "torch_impl.lenet:bn_lenet_concise",
          _MNIST, "Gluon's nn.BatchNorm, max pooling"),
    Entry("bn_lenet_scratch_d2l", "gluon_impl.lenet:bn_lenet_scratch_d2l",
          "torch_impl.lenet:bn_lenet_scratch_d2l", _MNIST,
          "scratch BatchNorm (moving_var ones, momentum 0.9), average pooling",
          kwargs={"edition": "0.17"}),
    Entry("bn_lenet_scratch_d2l_v1", "gluon_impl.lenet:bn_lenet_scratch_d2l",
          "torch_impl.lenet:bn_lenet_scratch_d2l", _MNIST,
          "scratch BatchNorm (moving_var ones, momentum 0.1 on the new value)",
          kwargs={"edition": "1.0"}),
    Entry("bn_lenet_concise_d2l", "gluon_impl.lenet:bn_lenet_concise_d2l",
          "torch_impl.lenet:bn_lenet_concise_d2l", _MNIST,
          "built-in BatchNorm (Gluon semantics in the port), average pooling, explicit Flatten"),
    Entry("bn_lenet_concise_d2l_stock", "gluon_impl.lenet:bn_lenet_concise_d2l",
          "torch_impl.lenet:bn_lenet_concise_d2l", _MNIST,
          "the edition's own nn.BatchNorm2d/1d against Gluon's BatchNorm: a known difference of the course",
          torch_kwargs={"batchnorm": "stock"}),
    Entry("alexnet", "gluon_impl.alexnet:AlexNet", "torch_impl.alexnet:AlexNet", _224,
          "AlexNet at 224x224 (first conv padded by 1), dropout 0.5", dropout=True),
    Entry("vgg11", "gluon_impl.vgg:vgg11", "torch_impl.vgg:vgg11", _224,
          "VGG-11: arch ((1,64),(1,128),(2,256),(2,512),(2,512)), dropout 0.5", dropout=True),
    Entry("vgg_small", "gluon_impl.vgg:vgg_small", "torch_impl.vgg:vgg_small", _224,
          "the course's small VGG: arch ((1,16),(1,32),(2,64),(2,128),(2,128))", dropout=True),
    Entry("nin", "gluon_impl.nin:NiN", "torch_impl.nin:NiN", _224,
          "NiN blocks, global average pooling, dropout 0.5", dropout=True),
    Entry("googlenet", "gluon_impl.googlenet:GoogLeNet", "torch_impl.googlenet:GoogLeNet", _96,
          "GoogLeNet at 96x96"),
    Entry("resnet", "gluon_impl.resnet:resnet", "torch_impl.resnet:resnet", _MNIST,
          "3 residuals per stage, 28x28 input"),
    Entry("resnet18", "gluon_impl.resnet:resnet18", "torch_impl.resnet:resnet18", _96,
          "ResNet-18: 2 residuals per stage, 96x96 input"),
    Entry("densenet", "gluon_impl.densenet:DenseNet", "torch_impl.densenet:DenseNet", _96,
          "growth 32, arch (4,4,4,4), gluonbook's transition widths (96,160,224)"),
    Entry("densenet_d2l", "gluon_impl.densenet:DenseNet", "torch_impl.densenet:DenseNet", _96,
          "growth 32, arch (4,4,4,4), d2l's halving transitions (96,112,120)", kwargs={"halve_channels": True}),
]

REGISTRY = {entry.name: entry for entry in ENTRIES}


class UnknownName(KeyError):
    """A name that is not in a catalog table; the message lists the valid ones."""
    what, listing = "name", "valid names"

    def __str__(self):
        return self.args[0]


class UnknownNetwork(UnknownName):
    """A network name that is not in the registry."""
    what = "network"


def lookup(table: dict, name: str, error: type[UnknownName]):
    """``table[name]``; else ``error`` (an :class:`UnknownName`) naming ``name`` and every valid one."""
    try:
        return table[name]
    except KeyError:
        raise error(f"unknown {error.what} {name!r}; {error.listing}: {', '.join(table)}") from None


def get(name: str) -> Entry:
    """The entry called ``name``; an unknown name raises an error listing the valid ones."""
    return lookup(REGISTRY, name, UnknownNetwork)


def names():
    """Every registry name, in catalog order."""
    return list(REGISTRY)
