"""The course's MXNet Gluon code, legacy-faithful: gluonbook's, and Gluon twins of the PyTorch editions'.

gluonbook (MXNet edition, chapter 5) wrote LeNet, the BN-LeNets and scratch BatchNorm, the
3-residuals ResNet and DenseNet; AlexNet, VGG, NiN, GoogLeNet, ResNet-18, d2l's LeNet and
BN-LeNets and ``BatchNormD2L`` are written here after the PyTorch editions (each module's
docstring says which edition).

One module per family, mirrored file by file in ``torch_impl``.  This package
imports MXNet only, never PyTorch.
"""
