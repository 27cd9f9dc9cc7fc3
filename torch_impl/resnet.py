"""ResNet: gluonbook's ``Residual`` and its 3-residuals-per-stage network, and d2l's ResNet-18."""
import torch.nn.functional as F
from torch import nn

from modern_cnns.torch_impl import gluon_layers as gl


class Residual(nn.Module):
    def __init__(self, num_channels, use_1x1conv=False, strides=1, in_channels=0):
        super().__init__()
        in_channels = in_channels or num_channels
        self.conv1 = gl.Conv2D(num_channels, kernel_size=3, padding=1, strides=strides, in_channels=in_channels)
        self.conv2 = gl.Conv2D(num_channels, kernel_size=3, padding=1, in_channels=num_channels)
        self.bn1 = gl.BatchNorm(in_channels=num_channels)
        self.bn2 = gl.BatchNorm(in_channels=num_channels)
        if use_1x1conv:
            self.conv3 = gl.Conv2D(num_channels, kernel_size=1, strides=strides, in_channels=in_channels)
        else:
            self.conv3 = None

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        return F.relu(Y + X)


def stem_layers(in_channels=1):
    """The first layers, as GoogLeNet's plus BatchNorm: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool."""
    return [
        gl.Conv2D(64, kernel_size=7, strides=2, padding=3, in_channels=in_channels),
        gl.BatchNorm(in_channels=64),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    ]


def resnet(num_classes=10, in_channels=1):
    """gluonbook 5.12.2: stem, 4 stages of 3 residuals, global average pool, Dense."""
    return nn.Sequential(
        *stem_layers(in_channels),
        Residual(num_channels=64, in_channels=64),
        Residual(num_channels=64),
        Residual(num_channels=64),
        Residual(num_channels=128, use_1x1conv=True, strides=2, in_channels=64),
        Residual(num_channels=128),
        Residual(num_channels=128),
        Residual(num_channels=256, use_1x1conv=True, strides=2, in_channels=128),
        Residual(num_channels=256),
        Residual(num_channels=256),
        Residual(num_channels=512, use_1x1conv=True, strides=2, in_channels=256),
        Residual(num_channels=512),
        Residual(num_channels=512),
        gl.global_avg_pool2d(),
        gl.Dense(num_classes, in_units=512),
    )


def resnet_block(num_channels, num_residuals, first_block=False, in_channels=0):
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(num_channels, use_1x1conv=True, strides=2, in_channels=in_channels))
        else:
            blk.append(Residual(num_channels))
    return nn.Sequential(*blk)


def resnet18(num_classes=10, in_channels=1):
    """d2l's ResNet-18: stem, 4 stages of 2 residuals, global average pool, Dense."""
    return nn.Sequential(
        *stem_layers(in_channels),
        resnet_block(64, 2, first_block=True),
        resnet_block(128, 2, in_channels=64),
        resnet_block(256, 2, in_channels=128),
        resnet_block(512, 2, in_channels=256),
        gl.global_avg_pool2d(), gl.Dense(num_classes, in_units=512),
    )
