"""DenseNet as gluonbook wrote it (§5.13); see ``gluon_impl.densenet`` for the kept artefacts."""
import torch
from torch import nn

from modern_cnns.torch_impl import gluon_layers as gl
from modern_cnns.torch_impl.resnet import stem_layers


def conv_block(num_channels, in_channels):
    return nn.Sequential(
        gl.BatchNorm(in_channels=in_channels),
        nn.ReLU(),
        gl.Conv2D(num_channels, kernel_size=3, padding=1, in_channels=in_channels),
    )


class DenseBlock(nn.Module):
    def __init__(self, num_convs, num_channels, verbose=False, in_channels=0):
        super().__init__()
        self.verbose = verbose
        self.net = nn.Sequential(*[conv_block(num_channels, in_channels + i * num_channels)
                                   for i in range(num_convs)])
        self.out_channels = in_channels + num_convs * num_channels

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            if self.verbose:
                print("X.shape: {0} --> Y.shape: {1}".format(tuple(X.shape), tuple(Y.shape)))
            X = torch.cat((X, Y), dim=1)  # Concatenate input and output on the channel dimension.
        return X


def transition_block(num_channels, in_channels):
    return nn.Sequential(
        gl.BatchNorm(in_channels=in_channels),
        nn.ReLU(),
        gl.Conv2D(num_channels, kernel_size=1, in_channels=in_channels),
        nn.AvgPool2d(kernel_size=2, stride=2),
    )


class DenseNet(nn.Sequential):
    def __init__(self, num_channels=64, growth_rate=32, arch=(4, 4, 4, 4), num_classes=10,
                 halve_channels=False, verbose=False, in_channels=1):
        layers = stem_layers(in_channels)
        channels = 64  # the channels actually flowing, which gluonbook's num_channels stops tracking
        for i, num_convs in enumerate(arch):
            layers.append(DenseBlock(num_convs, growth_rate, verbose=verbose, in_channels=channels))
            channels = layers[-1].out_channels
            # This is the number of output channels in the previous dense block (gluonbook's count).
            num_channels += num_convs * growth_rate
            if i != len(arch) - 1:
                if halve_channels:
                    num_channels //= 2
                    out = num_channels
                else:
                    out = num_channels // 2
                layers.append(transition_block(out, in_channels=channels))
                channels = out
        layers += [gl.BatchNorm(in_channels=channels), nn.ReLU(), gl.global_avg_pool2d(),
                   gl.Dense(num_classes, in_units=channels)]
        super().__init__(*layers)
