"""AlexNet as in the course (d2l 1.0 §8.1), for 1-channel 224x224 Fashion-MNIST."""
from torch import nn

from modern_cnns.torch_impl import gluon_layers as gl


class AlexNet(nn.Sequential):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__(
            gl.Conv2D(96, kernel_size=11, strides=4, padding=1, activation='relu', in_channels=in_channels),
            nn.MaxPool2d(kernel_size=3, stride=2),
            gl.Conv2D(256, kernel_size=5, padding=2, activation='relu', in_channels=96),
            nn.MaxPool2d(kernel_size=3, stride=2),
            gl.Conv2D(384, kernel_size=3, padding=1, activation='relu', in_channels=256),
            gl.Conv2D(384, kernel_size=3, padding=1, activation='relu', in_channels=384),
            gl.Conv2D(256, kernel_size=3, padding=1, activation='relu', in_channels=384),
            nn.MaxPool2d(kernel_size=3, stride=2),
            gl.Dense(4096, activation='relu', in_units=256 * 5 * 5), nn.Dropout(0.5),
            gl.Dense(4096, activation='relu', in_units=4096), nn.Dropout(0.5),
            gl.Dense(num_classes, in_units=4096),
        )
