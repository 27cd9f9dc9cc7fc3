"""ResNet: gluonbook's ``Residual`` and its 3-residuals-per-stage network, and d2l's ResNet-18.

``resnet`` is gluonbook's network (§5.12.2) verbatim: after the 7x7 stem, *three* residuals
per stage (64, 128, 256, 512 channels), trained on 28x28 inputs.  ``ResNet18`` is
d2l's: two residuals per stage, trained at 96x96.
"""
from mxnet import nd
from mxnet.gluon import nn


class Residual(nn.Block):  # This class is part of the gluonbook package
    def __init__(self, num_channels, use_1x1conv=False, strides=1, **kwargs):
        super(Residual, self).__init__(**kwargs)
        self.conv1 = nn.Conv2D(num_channels, kernel_size=3, padding=1, strides=strides)
        self.conv2 = nn.Conv2D(num_channels, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm()
        self.bn2 = nn.BatchNorm()
        if use_1x1conv:
            self.conv3 = nn.Conv2D(num_channels, kernel_size=1, strides=strides)
        else:
            self.conv3 = None

    def forward(self, X):
        Y = nd.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        return nd.relu(Y + X)


def stem_layers():
    """The first layers, as GoogLeNet's plus BatchNorm: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool."""
    return [
        nn.Conv2D(64, kernel_size=7, strides=2, padding=3),
        nn.BatchNorm(),
        nn.Activation('relu'),
        nn.MaxPool2D(pool_size=3, strides=2, padding=1),
    ]


def resnet(num_classes=10):
    """gluonbook 5.12.2: stem, 4 stages of 3 residuals, global average pool, Dense."""
    net = nn.Sequential()
    net.add(*stem_layers())
    net.add(
        # Since a maximum pooling layer with a stride of 2 has already been used,
        # it is not necessary to reduce the height and width at the first residual block.
        Residual(num_channels=64),
        Residual(num_channels=64),
        Residual(num_channels=64),
        Residual(num_channels=128, use_1x1conv=True, strides=2),  # height and width are halved
        Residual(num_channels=128),
        Residual(num_channels=128),
        Residual(num_channels=256, use_1x1conv=True, strides=2),  # height and width are halved
        Residual(num_channels=256),
        Residual(num_channels=256),
        Residual(num_channels=512, use_1x1conv=True, strides=2),  # height and width are halved
        Residual(num_channels=512),
        Residual(num_channels=512)
    )
    net.add(
        nn.GlobalAvgPool2D(),
        nn.Dense(num_classes)
    )
    return net


def resnet_block(num_channels, num_residuals, first_block=False):
    blk = nn.Sequential()
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.add(Residual(num_channels, use_1x1conv=True, strides=2))
        else:
            blk.add(Residual(num_channels))
    return blk


def resnet18(num_classes=10):
    """d2l's ResNet-18: stem, 4 stages of 2 residuals, global average pool, Dense."""
    net = nn.Sequential()
    net.add(*stem_layers())
    net.add(resnet_block(64, 2, first_block=True),
            resnet_block(128, 2),
            resnet_block(256, 2),
            resnet_block(512, 2))
    net.add(nn.GlobalAvgPool2D(), nn.Dense(num_classes))
    return net
