"""GoogLeNet (d2l's 96x96 version): ``Inception`` blocks of four parallel paths."""
import torch
from torch import nn

from modern_cnns.torch_impl import gluon_layers as gl


class Inception(nn.Module):
    """Four paths concatenated on channels: 1x1 | 1x1,3x3 | 1x1,5x5 | 3x3 max-pool,1x1."""

    def __init__(self, c1, c2, c3, c4, in_channels):
        super().__init__()
        self.p1_1 = gl.Conv2D(c1, kernel_size=1, activation='relu', in_channels=in_channels)
        self.p2_1 = gl.Conv2D(c2[0], kernel_size=1, activation='relu', in_channels=in_channels)
        self.p2_2 = gl.Conv2D(c2[1], kernel_size=3, padding=1, activation='relu', in_channels=c2[0])
        self.p3_1 = gl.Conv2D(c3[0], kernel_size=1, activation='relu', in_channels=in_channels)
        self.p3_2 = gl.Conv2D(c3[1], kernel_size=5, padding=2, activation='relu', in_channels=c3[0])
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = gl.Conv2D(c4, kernel_size=1, activation='relu', in_channels=in_channels)
        self.out_channels = c1 + c2[1] + c3[1] + c4

    def forward(self, x):
        p1 = self.p1_1(x)
        p2 = self.p2_2(self.p2_1(x))
        p3 = self.p3_2(self.p3_1(x))
        p4 = self.p4_2(self.p4_1(x))
        return torch.cat((p1, p2, p3, p4), dim=1)


def _inceptions(specs, in_channels):
    blocks = []
    for spec in specs:
        blocks.append(Inception(*spec, in_channels=in_channels))
        in_channels = blocks[-1].out_channels
    return blocks


class GoogLeNet(nn.Sequential):
    def __init__(self, num_classes=10, in_channels=1):
        b1 = nn.Sequential(
            gl.Conv2D(64, kernel_size=7, strides=2, padding=3, activation='relu', in_channels=in_channels),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b2 = nn.Sequential(
            gl.Conv2D(64, kernel_size=1, activation='relu', in_channels=64),
            gl.Conv2D(192, kernel_size=3, padding=1, activation='relu', in_channels=64),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b3 = nn.Sequential(
            *_inceptions([(64, (96, 128), (16, 32), 32),
                          (128, (128, 192), (32, 96), 64)], in_channels=192),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b4 = nn.Sequential(
            *_inceptions([(192, (96, 208), (16, 48), 64),
                          (160, (112, 224), (24, 64), 64),
                          (128, (128, 256), (24, 64), 64),
                          (112, (144, 288), (32, 64), 64),
                          (256, (160, 320), (32, 128), 128)], in_channels=480),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b5 = nn.Sequential(
            *_inceptions([(256, (160, 320), (32, 128), 128),
                          (384, (192, 384), (48, 128), 128)], in_channels=832),
            gl.global_avg_pool2d())
        super().__init__(b1, b2, b3, b4, b5, gl.Dense(num_classes, in_units=1024))
