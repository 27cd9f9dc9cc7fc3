"""Layer-by-layer output shapes, printed the way the course prints them.

The course's loop is ``for layer in net: X = layer(X); print(layer.name,
'output shape:\\t', X.shape)``.  Gluon names carry a process-wide counter
(gluonbook §5.12.2 shows ``conv52`` because of the cells run before); we build the Gluon
network inside a fresh ``NameManager`` so its names start at 0, and give the
torch layers the same kind of names (Gluon's alias for the layer type plus a
per-type counter), so both tables read alike.
"""
from __future__ import annotations

import collections

import numpy as np

#: torch class name -> the alias Gluon gives its counterpart's name
TORCH_ALIASES = {
    "Conv2d": "conv", "Conv2D": "conv", "Linear": "dense", "Dense": "dense",
    "MaxPool2d": "pool", "AvgPool2d": "pool", "AdaptiveAvgPool2d": "pool",
    "ReLU": "relu", "Sigmoid": "sigmoid", "BatchNorm2d": "batchnorm", "BatchNorm1d": "batchnorm",
}


def _line(name, shape):
    return f"{name} output shape:\t {tuple(shape)}"


def gluon_summary(entry, batch_size=1, seed=0):
    """Build, initialise and run the Gluon network layer by layer; return the printed lines."""
    import mxnet as mx

    with mx.name.NameManager():
        net = entry.build_gluon()
    net.initialize()
    X = mx.nd.array(np.random.default_rng(seed).uniform(size=entry.batch_shape(batch_size)))
    lines = []
    for layer in net:
        X = layer(X)
        lines.append(_line(layer.name, X.shape))
    return lines


def torch_summary(entry, batch_size=1, seed=0):
    """The port's layer output shapes, in the course's printout format (see ``gluon_summary``)."""
    import torch

    net = entry.build_torch().eval()  # Gluon predicts outside autograd.record()
    X = torch.from_numpy(np.random.default_rng(seed).uniform(size=entry.batch_shape(batch_size))).float()
    counters = collections.Counter()
    lines = []
    with torch.no_grad():
        for layer in net:
            X = layer(X)
            cls = type(layer).__name__
            alias = TORCH_ALIASES.get(cls, cls.lower())
            lines.append(_line(f"{alias}{counters[alias]}", X.shape))
            counters[alias] += 1
    return lines


SUMMARIES = {"gluon": gluon_summary, "torch": torch_summary}
