"""Fashion-MNIST for both frameworks: one numpy source, one preprocessing path.

This package imports neither MXNet nor PyTorch; ``gluon_impl.data`` and
``torch_impl.data`` wrap its batches into NDArrays and tensors.
"""
from modern_cnns.data.fashion_mnist import (
    DEFAULT_DIR,
    ENV_VAR,
    FILES,
    DatasetError,
    FashionMNIST,
    check_files,
    load_fashion_mnist,
    read_idx,
    resolve_dir,
)
from modern_cnns.data.pipeline import BatchStream, resize_images, to_float

__all__ = [
    "DEFAULT_DIR", "ENV_VAR", "FILES", "DatasetError", "FashionMNIST", "check_files",
    "load_fashion_mnist", "read_idx", "resolve_dir", "BatchStream", "resize_images", "to_float",
]
