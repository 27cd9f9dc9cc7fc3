"""LeNet and BN-LeNet, in the course's two editions (see ``gluon_impl.lenet``).

Networks are built for 28x28 inputs, as the course trains them.
"""
from torch import nn

from modern_cnns.torch_impl import gluon_layers as gl
from modern_cnns.torch_impl.batchnorm import BatchNorm, BatchNormD2L


def lenet(num_classes=10, in_channels=1):
    """gluonbook §5.6 LeNet: conv+sigmoid layers, max pooling."""
    return nn.Sequential(
        gl.Conv2D(channels=6, kernel_size=5, activation='sigmoid', in_channels=in_channels),
        nn.MaxPool2d(kernel_size=2, stride=2),
        gl.Conv2D(channels=16, kernel_size=5, activation='sigmoid', in_channels=6),
        nn.MaxPool2d(kernel_size=2, stride=2),
        gl.Dense(120, activation='sigmoid', in_units=16 * 4 * 4),
        gl.Dense(84, activation='sigmoid', in_units=120),
        gl.Dense(num_classes, in_units=84),
    )


def lenet_d2l(num_classes=10, in_channels=1):
    """d2l's PyTorch LeNet: padding 2, average pooling, explicit Flatten."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


def bn_lenet_scratch(num_classes=10, in_channels=1):
    """gluonbook §5.11.3: LeNet with the scratch BatchNorm, max pooling."""
    return nn.Sequential(
        gl.Conv2D(6, kernel_size=5, in_channels=in_channels),
        BatchNorm(6, num_dims=4),
        nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        gl.Conv2D(16, kernel_size=5, in_channels=6),
        BatchNorm(16, num_dims=4),
        nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        gl.Dense(120, in_units=16 * 4 * 4),
        BatchNorm(120, num_dims=2),
        nn.Sigmoid(),
        gl.Dense(84, in_units=120),
        BatchNorm(84, num_dims=2),
        nn.Sigmoid(),
        gl.Dense(num_classes, in_units=84),
    )


def bn_lenet_concise(num_classes=10, in_channels=1):
    """gluonbook §5.11.4: the same network with (the port of) Gluon's ``nn.BatchNorm``."""
    return nn.Sequential(
        gl.Conv2D(6, kernel_size=5, in_channels=in_channels),
        gl.BatchNorm(in_channels=6),
        nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        gl.Conv2D(16, kernel_size=5, in_channels=6),
        gl.BatchNorm(in_channels=16),
        nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        gl.Dense(120, in_units=16 * 4 * 4),
        gl.BatchNorm(in_channels=120),
        nn.Sigmoid(),
        gl.Dense(84, in_units=120),
        gl.BatchNorm(in_channels=84),
        nn.Sigmoid(),
        gl.Dense(num_classes, in_units=84),
    )


def bn_lenet_scratch_d2l(num_classes=10, in_channels=1, edition="0.17"):
    """The PyTorch edition's BNLeNetScratch: average pooling, moving_var ones."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5), BatchNormD2L(6, num_dims=4, edition=edition),
        nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), BatchNormD2L(16, num_dims=4, edition=edition),
        nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 120),
        BatchNormD2L(120, num_dims=2, edition=edition), nn.Sigmoid(),
        nn.Linear(120, 84),
        BatchNormD2L(84, num_dims=2, edition=edition), nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


def bn_lenet_concise_d2l(num_classes=10, in_channels=1, batchnorm="gluon"):
    """The PyTorch edition's BNLeNet, its built-in BatchNorm given Gluon's semantics.

    d2l 0.17 §7.5.5 uses ``nn.BatchNorm2d/1d``; this builder uses ``gluon_layers.BatchNorm``
    by default so that the network and its Gluon twin compute the same thing (momentum,
    biased variance, update timing: docs/BATCHNORM.md).  ``batchnorm="stock"`` builds the
    edition's own network, which its experiment trains.
    """
    if batchnorm == "stock":
        bn2d, bn1d = nn.BatchNorm2d, nn.BatchNorm1d
    elif batchnorm == "gluon":
        bn2d = bn1d = lambda channels: gl.BatchNorm(in_channels=channels)  # noqa: E731
    else:
        raise ValueError(f"batchnorm must be 'gluon' or 'stock', got {batchnorm!r}")
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5), bn2d(6),
        nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), bn2d(16),
        nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(256, 120), bn1d(120),
        nn.Sigmoid(), nn.Linear(120, 84), bn1d(84),
        nn.Sigmoid(), nn.Linear(84, num_classes),
    )
