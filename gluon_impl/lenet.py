"""LeNet and BN-LeNet, in the course's two editions.

gluonbook edition (§5.6, §5.11): no padding, sigmoid, **max** pooling, ``Dense``
flattening its input itself.  PyTorch editions (d2l 0.17 §6.6 and §7.5, d2l 1.0 §8.5): sigmoid, **average**
pooling and an explicit ``Flatten``; its plain LeNet pads the first convolution by 2.
Both editions exist in both frameworks so each course experiment can be checked.
"""
from mxnet.gluon import nn

from modern_cnns.gluon_impl.batchnorm import BatchNorm, BatchNormD2L


def lenet(num_classes=10):
    """gluonbook 5.5 LeNet: conv+sigmoid layers, max pooling."""
    net = nn.Sequential()
    net.add(
        nn.Conv2D(channels=6, kernel_size=5, activation='sigmoid'),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Conv2D(channels=16, kernel_size=5, activation='sigmoid'),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Dense(120, activation='sigmoid'),
        nn.Dense(84, activation='sigmoid'),
        nn.Dense(num_classes),
    )
    return net


def lenet_d2l(num_classes=10):
    """d2l's PyTorch LeNet ported to Gluon: padding 2, average pooling, explicit Flatten."""
    net = nn.Sequential()
    net.add(
        nn.Conv2D(6, kernel_size=5, padding=2), nn.Activation('sigmoid'),
        nn.AvgPool2D(pool_size=2, strides=2),
        nn.Conv2D(16, kernel_size=5), nn.Activation('sigmoid'),
        nn.AvgPool2D(pool_size=2, strides=2),
        nn.Flatten(),
        nn.Dense(120), nn.Activation('sigmoid'),
        nn.Dense(84), nn.Activation('sigmoid'),
        nn.Dense(num_classes),
    )
    return net


def bn_lenet_scratch(num_classes=10):
    """gluonbook 5.11.3: LeNet with the scratch BatchNorm, max pooling."""
    net = nn.Sequential()
    net.add(
        nn.Conv2D(6, kernel_size=5),
        BatchNorm(6, num_dims=4),
        nn.Activation('sigmoid'),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Conv2D(16, kernel_size=5),
        BatchNorm(16, num_dims=4),
        nn.Activation('sigmoid'),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Dense(120),
        BatchNorm(120, num_dims=2),
        nn.Activation('sigmoid'),
        nn.Dense(84),
        BatchNorm(84, num_dims=2),
        nn.Activation('sigmoid'),
        nn.Dense(num_classes)
    )
    return net


def bn_lenet_concise(num_classes=10):
    """gluonbook 5.11.4: the same network with Gluon's ``nn.BatchNorm``."""
    net = nn.Sequential()
    net.add(
        nn.Conv2D(6, kernel_size=5),
        nn.BatchNorm(),
        nn.Activation('sigmoid'),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Conv2D(16, kernel_size=5),
        nn.BatchNorm(),
        nn.Activation('sigmoid'),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Dense(120),
        nn.BatchNorm(),
        nn.Activation('sigmoid'),
        nn.Dense(84),
        nn.BatchNorm(),
        nn.Activation('sigmoid'),
        nn.Dense(num_classes)
    )
    return net


def bn_lenet_scratch_d2l(num_classes=10, edition="0.17"):
    """The PyTorch edition's BNLeNetScratch (average pooling, moving_var ones) in Gluon."""
    net = nn.Sequential()
    net.add(
        nn.Conv2D(6, kernel_size=5), BatchNormD2L(6, num_dims=4, edition=edition),
        nn.Activation('sigmoid'), nn.AvgPool2D(pool_size=2, strides=2),
        nn.Conv2D(16, kernel_size=5), BatchNormD2L(16, num_dims=4, edition=edition),
        nn.Activation('sigmoid'), nn.AvgPool2D(pool_size=2, strides=2),
        nn.Flatten(), nn.Dense(120),
        BatchNormD2L(120, num_dims=2, edition=edition), nn.Activation('sigmoid'),
        nn.Dense(84),
        BatchNormD2L(84, num_dims=2, edition=edition), nn.Activation('sigmoid'),
        nn.Dense(num_classes),
    )
    return net


def bn_lenet_concise_d2l(num_classes=10):
    """The PyTorch edition's BNLeNet (built-in BatchNorm, average pooling) in Gluon."""
    net = nn.Sequential()
    net.add(
        nn.Conv2D(6, kernel_size=5), nn.BatchNorm(),
        nn.Activation('sigmoid'), nn.AvgPool2D(pool_size=2, strides=2),
        nn.Conv2D(16, kernel_size=5), nn.BatchNorm(),
        nn.Activation('sigmoid'), nn.AvgPool2D(pool_size=2, strides=2),
        nn.Flatten(), nn.Dense(120), nn.BatchNorm(),
        nn.Activation('sigmoid'), nn.Dense(84), nn.BatchNorm(),
        nn.Activation('sigmoid'), nn.Dense(num_classes),
    )
    return net
