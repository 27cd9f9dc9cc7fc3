"""The course's MXNet Gluon code (gluonbook / d2l chapter 7), legacy-faithful.

One module per family, mirrored file by file in ``torch_impl``.  This package
imports MXNet only, never PyTorch.
"""
