"""Network in Network: ``nin_block`` and ``NiN`` (d2l 1.0 §8.3), no dense layers at all."""
from torch import nn

from modern_cnns.torch_impl import gluon_layers as gl


def nin_block(num_channels, kernel_size, strides, padding, in_channels):
    return nn.Sequential(
        gl.Conv2D(num_channels, kernel_size, strides, padding, activation='relu', in_channels=in_channels),
        gl.Conv2D(num_channels, kernel_size=1, activation='relu', in_channels=num_channels),
        gl.Conv2D(num_channels, kernel_size=1, activation='relu', in_channels=num_channels))


class NiN(nn.Sequential):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__(
            nin_block(96, kernel_size=11, strides=4, padding=0, in_channels=in_channels),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nin_block(256, kernel_size=5, strides=1, padding=2, in_channels=96),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nin_block(384, kernel_size=3, strides=1, padding=1, in_channels=256),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Dropout(0.5),
            # One channel per class, then global average pooling gives the logits.
            nin_block(num_classes, kernel_size=3, strides=1, padding=1, in_channels=384),
            gl.global_avg_pool2d(),
            nn.Flatten(),
        )
