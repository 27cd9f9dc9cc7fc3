"""d2l 1.0's own code, as the edition writes it: Lazy layers, ``init_cnn`` and ``apply_init``.

The ports (``alexnet``, ``densenet``, ...) are built for parity: plain layers with Gluon's
arguments and child names.  This module keeps what they cannot show, the edition's
*initialisation* as it actually happens.  d2l 1.0 (§7.6) defines

    def init_cnn(module):
        if type(module) == nn.Linear or type(module) == nn.Conv2d:
            nn.init.xavier_uniform_(module.weight)

and its AlexNet (§8.1) and DenseNet (§8.7) call ``self.net.apply(d2l.init_cnn)`` at the
end of ``__init__``, on ``LazyConv2d``/``LazyLinear`` layers.  A Lazy layer's type is
``LazyConv2d`` until its first forward (it becomes ``nn.Conv2d`` then), so the exact-type
test matches nothing and those two networks keep PyTorch's default initialisation; their
training cells have no ``apply_init``.  VGG (§8.2), NiN (§8.3) and the BN-LeNets (§8.5) call
``model.apply_init([batch], d2l.init_cnn)``, which runs a forward first, so their weights do
get Xavier (their biases keep PyTorch's default draw).  ``parity.catalog.experiments`` runs
each experiment accordingly; ``parity_tests/test_course_record.py`` pins both behaviours on the
modules below.  Only the networks the tests need are here, without ``d2l.Classifier``.
"""
import torch
from torch import nn


def init_cnn(module):
    """d2l 1.0 §7.6's ``init_cnn``, verbatim: the exact-type test is the point (see the module doc)."""
    if type(module) == nn.Linear or type(module) == nn.Conv2d:  # noqa: E721 -- the edition's test, kept
        nn.init.xavier_uniform_(module.weight)


def apply_init(net, inputs, init=None):
    """d2l 1.0's ``Module.apply_init``: one forward (Lazy layers get their shapes), then ``init``."""
    net(*inputs)
    if init is not None:
        net.apply(init)


def alexnet(num_classes=10, init=init_cnn):
    """d2l 1.0 §8.1's ``AlexNet.__init__``: the Lazy network, then ``self.net.apply(init)`` (``d2l.init_cnn``)."""
    net = nn.Sequential(
        nn.LazyConv2d(96, kernel_size=11, stride=4, padding=1),
        nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.LazyConv2d(256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
        nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
        nn.LazyConv2d(256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
        nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.LazyLinear(num_classes))
    if init is not None:
        net.apply(init)
    return net


def conv_block(num_channels):
    """d2l 1.0 §8.7.2."""
    return nn.Sequential(nn.LazyBatchNorm2d(), nn.ReLU(), nn.LazyConv2d(num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    """d2l 1.0 §8.7.2."""

    def __init__(self, num_convs, num_channels):
        super().__init__()
        self.net = nn.Sequential(*[conv_block(num_channels) for _ in range(num_convs)])

    def forward(self, X):
        for blk in self.net:
            X = torch.cat((X, blk(X)), dim=1)
        return X


def transition_block(num_channels):
    """d2l 1.0 §8.7.3."""
    return nn.Sequential(nn.LazyBatchNorm2d(), nn.ReLU(), nn.LazyConv2d(num_channels, kernel_size=1),
                         nn.AvgPool2d(kernel_size=2, stride=2))


def densenet(num_channels=64, growth_rate=32, arch=(4, 4, 4, 4), num_classes=10, init=init_cnn):
    """d2l 1.0 §8.7.4's ``DenseNet.__init__``: the Lazy network, then ``self.net.apply(init)`` (``d2l.init_cnn``)."""
    net = nn.Sequential(nn.Sequential(
        nn.LazyConv2d(64, kernel_size=7, stride=2, padding=3), nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
    for i, num_convs in enumerate(arch):
        net.add_module(f'dense_blk{i+1}', DenseBlock(num_convs, growth_rate))
        num_channels += num_convs * growth_rate
        if i != len(arch) - 1:
            num_channels //= 2
            net.add_module(f'tran_blk{i+1}', transition_block(num_channels))
    net.add_module('last', nn.Sequential(nn.LazyBatchNorm2d(), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)),
                                         nn.Flatten(), nn.LazyLinear(num_classes)))
    if init is not None:
        net.apply(init)
    return net


def vgg_small(num_classes=10, init=init_cnn):
    """d2l 1.0 §8.2's small VGG, arch ((1,16),(1,32),(2,64),(2,128),(2,128)); its cell calls ``apply_init``."""
    layers = []
    for num_convs, out_channels in ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128)):
        for _ in range(num_convs):
            layers += [nn.LazyConv2d(out_channels, kernel_size=3, padding=1), nn.ReLU()]
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    net = nn.Sequential(*layers, nn.Flatten(),
                        nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5),
                        nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5),
                        nn.LazyLinear(num_classes))
    if init is not None:
        net.apply(init)
    return net
