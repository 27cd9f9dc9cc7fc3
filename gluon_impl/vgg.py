"""VGG: ``vgg_block`` and ``VGG(arch)``, with VGG-11 and the course's small VGG."""
from mxnet.gluon import nn

VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
#: The course trains a narrower VGG-11 on Fashion-MNIST (d2l 1.0 §8.2.3).
SMALL_ARCH = ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128))


def vgg_block(num_convs, num_channels):
    blk = nn.Sequential()
    for _ in range(num_convs):
        blk.add(nn.Conv2D(num_channels, kernel_size=3, padding=1, activation='relu'))
    blk.add(nn.MaxPool2D(pool_size=2, strides=2))
    return blk


class VGG(nn.Sequential):
    """Five VGG blocks (224 -> 7), then Dense 4096 / 4096 / classes with dropout 0.5."""

    def __init__(self, arch, num_classes=10, **kwargs):
        super(VGG, self).__init__(**kwargs)
        with self.name_scope():
            for (num_convs, num_channels) in arch:
                self.add(vgg_block(num_convs, num_channels))
            self.add(nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
                     nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
                     nn.Dense(num_classes))


def vgg11(num_classes=10):
    return VGG(VGG11_ARCH, num_classes)


def vgg_small(num_classes=10):
    return VGG(SMALL_ARCH, num_classes)
