"""VGG: ``vgg_block`` and ``VGG(arch)``, with VGG-11 and the course's small VGG (224x224 input)."""
from torch import nn

from modern_cnns.torch_impl import gluon_layers as gl

VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
#: The course trains a narrower VGG-11 on Fashion-MNIST (d2l 1.0 §8.2.3).
SMALL_ARCH = ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128))


def vgg_block(num_convs, num_channels, in_channels):
    layers = []
    for _ in range(num_convs):
        layers.append(gl.Conv2D(num_channels, kernel_size=3, padding=1, activation='relu',
                                in_channels=in_channels))
        in_channels = num_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Sequential):
    """Five VGG blocks (224 -> 7), then Dense 4096 / 4096 / classes with dropout 0.5."""

    def __init__(self, arch, num_classes=10, in_channels=1):
        blocks = []
        for (num_convs, num_channels) in arch:
            blocks.append(vgg_block(num_convs, num_channels, in_channels))
            in_channels = num_channels
        side = 224 // 2 ** len(arch)
        super().__init__(*blocks,
                         gl.Dense(4096, activation='relu', in_units=in_channels * side * side), nn.Dropout(0.5),
                         gl.Dense(4096, activation='relu', in_units=4096), nn.Dropout(0.5),
                         gl.Dense(num_classes, in_units=4096))


def vgg11(num_classes=10, in_channels=1):
    return VGG(VGG11_ARCH, num_classes, in_channels)


def vgg_small(num_classes=10, in_channels=1):
    return VGG(SMALL_ARCH, num_classes, in_channels)
