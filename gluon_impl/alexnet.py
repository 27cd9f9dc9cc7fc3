"""AlexNet as in the course (d2l 1.0 §8.1), for 1-channel 224x224 Fashion-MNIST.

d2l 1.0 pads the first 11x11 convolution by 1 (gluonbook §5.7 did not; the shapes
agree at 224x224).  Written in gluonbook's style, activations inside the layers.
"""
from mxnet.gluon import nn


class AlexNet(nn.Sequential):
    def __init__(self, num_classes=10, **kwargs):
        super(AlexNet, self).__init__(**kwargs)
        with self.name_scope():
            self.add(
                nn.Conv2D(96, kernel_size=11, strides=4, padding=1, activation='relu'),
                nn.MaxPool2D(pool_size=3, strides=2),
                nn.Conv2D(256, kernel_size=5, padding=2, activation='relu'),
                nn.MaxPool2D(pool_size=3, strides=2),
                nn.Conv2D(384, kernel_size=3, padding=1, activation='relu'),
                nn.Conv2D(384, kernel_size=3, padding=1, activation='relu'),
                nn.Conv2D(256, kernel_size=3, padding=1, activation='relu'),
                nn.MaxPool2D(pool_size=3, strides=2),
                nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
                nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
                nn.Dense(num_classes),
            )
