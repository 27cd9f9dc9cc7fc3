"""DenseNet as gluonbook wrote it (§5.13 Densely Connected Networks), growth rate 32, four dense blocks of 4.

Two course artefacts are kept on purpose:

* ``DenseBlock`` printed ``X.shape --> Y.shape`` on every call; that print is off
  by default here and comes back with ``verbose=True``.
* gluonbook's loop passes ``num_channels // 2`` to each transition block but never
  halves ``num_channels`` itself (d2l later added ``num_channels //= 2``), so its
  transitions output 96, 160 and 224 channels where d2l's output 96, 112 and 120.
  ``DenseNet(..., halve_channels=True)`` builds d2l's variant.
"""
from mxnet import nd
from mxnet.gluon import nn

from modern_cnns.gluon_impl.resnet import stem_layers


def conv_block(num_channels):
    blk = nn.Sequential()
    blk.add(
        nn.BatchNorm(),
        nn.Activation('relu'),
        nn.Conv2D(num_channels, kernel_size=3, padding=1)
    )
    return blk


class DenseBlock(nn.Block):
    def __init__(self, num_convs, num_channels, verbose=False, **kwargs):
        super(DenseBlock, self).__init__(**kwargs)
        self.verbose = verbose
        self.net = nn.Sequential()
        for _ in range(num_convs):
            self.net.add(conv_block(num_channels))

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            if self.verbose:
                print("X.shape: {0} --> Y.shape: {1}".format(X.shape, Y.shape))
            X = nd.concat(X, Y, dim=1)  # Concatenate the input and output of each block on the channel dimension.
        return X


def transition_block(num_channels):
    blk = nn.Sequential()
    blk.add(
        nn.BatchNorm(),
        nn.Activation('relu'),
        nn.Conv2D(num_channels, kernel_size=1),
        nn.AvgPool2D(pool_size=2, strides=2)
    )
    return blk


class DenseNet(nn.Sequential):
    def __init__(self, num_channels=64, growth_rate=32, arch=(4, 4, 4, 4), num_classes=10,
                 halve_channels=False, verbose=False, **kwargs):
        super(DenseNet, self).__init__(**kwargs)
        with self.name_scope():
            self.add(*stem_layers())
            for i, num_convs in enumerate(arch):
                self.add(DenseBlock(num_convs, growth_rate, verbose=verbose))
                # This is the number of output channels in the previous dense block.
                num_channels += num_convs * growth_rate
                # A transition layer that halves the number of channels is added between the dense blocks.
                if i != len(arch) - 1:
                    if halve_channels:
                        num_channels //= 2
                        self.add(transition_block(num_channels))
                    else:
                        self.add(transition_block(num_channels // 2))
            self.add(
                nn.BatchNorm(),
                nn.Activation('relu'),
                nn.GlobalAvgPool2D(),
                nn.Dense(num_classes)
            )
