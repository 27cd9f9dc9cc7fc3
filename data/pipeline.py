"""The one preprocessing and batching path that both frameworks consume.

The Gluon course code builds its loader as
``Compose([Resize(resize), ToTensor()])`` over ``gluon.data.vision.FashionMNIST``.
``transforms.Resize`` is OpenCV's ``cv2.resize`` with bilinear interpolation
(``INTER_LINEAR``) on the uint8 HWC image, and ``ToTensor`` turns uint8 HWC into
float32 CHW divided by 255.  We do exactly that here, once, in numpy, so the
arrays fed to MXNet and to PyTorch are bit-for-bit the same (d2l's PyTorch
edition resizes with PIL instead, which differs by 1/255 on about a quarter of
the pixels; we deliberately follow the Gluon course).

Resizing happens per batch: the whole training set at 224x224 in float32 would
need 12 GB.
"""
from __future__ import annotations

import numpy as np


def resize_images(images: np.ndarray, size) -> np.ndarray:
    """Resize uint8 images (N, H, W) to (N, size, size) as Gluon's ``transforms.Resize`` does."""
    import cv2  # imported here: only resizing needs OpenCV

    if isinstance(size, int):
        size = (size, size)
    width, height = size[1], size[0]
    out = np.empty((len(images), height, width), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return out


def to_float(images: np.ndarray, resize=None) -> np.ndarray:
    """uint8 (N, H, W) -> float32 (N, 1, H', W') in [0, 1]: ``Resize`` then ``ToTensor``."""
    if resize:
        images = resize_images(images, resize)
    return (images.astype(np.float32) / np.float32(255))[:, None, :, :]


class BatchStream:
    """Mini-batches of one split, as numpy ``(X float32 (B,1,H,W), y int64 (B,))``.

    Mirrors Gluon's ``DataLoader(..., shuffle=..., last_batch='keep')`` and
    PyTorch's ``DataLoader(..., drop_last=False)``: every example once per epoch,
    the last batch possibly short.  With ``shuffle=True`` each pass (epoch) draws
    a new permutation from one generator seeded at construction, so two streams
    built with the same seed yield the same batches in the same order, epoch
    after epoch, whichever framework consumes them.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int,
                 shuffle: bool = False, seed=None, resize=None):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.resize = batch_size, shuffle, resize
        self._rng = np.random.default_rng(seed)

    def get_state(self) -> dict:
        """The shuffling generator's state: with it a resumed run draws the same epochs."""
        return dict(self._rng.bit_generator.state)

    def set_state(self, state: dict):
        self._rng.bit_generator.state = state

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __iter__(self):
        n = len(self.images)
        order = self._rng.permutation(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            stop = start + self.batch_size
            idx = slice(start, stop) if order is None else order[start:stop]
            yield to_float(self.images[idx], self.resize), self.labels[idx].astype(np.int64)
