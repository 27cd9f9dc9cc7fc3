"""Read the four standard Fashion-MNIST IDX files into numpy, verified.

The files come from Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``); ``FASHION_MNIST_DIR`` or an explicit
``root`` argument points elsewhere.  Every file is checked against the SHA-256 of
its *decompressed* IDX payload, so a re-compressed copy of the same data (e.g.
the upstream zalando download, whose ``.gz`` bytes differ from Debian's) is
accepted while a truncated, corrupt or foreign file is refused with an error
that names the file and says how to fix it.  Nothing here ever returns a
silently short dataset.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"
INSTALL_HINT = (f"apt-get install dataset-fashion-mnist, or set {ENV_VAR} to a folder "
                "holding the four *-ubyte.gz files")
REINSTALL_HINT = (f"apt-get install --reinstall dataset-fashion-mnist, or point {ENV_VAR} "
                  "at an intact copy")


@dataclass(frozen=True)
class IdxFile:
    """One of the four files: its name, IDX magic number, shape and payload checksum."""
    name: str
    magic: int
    shape: tuple
    sha256: str  # of the decompressed IDX bytes (header included)


# Measured on the files of dataset-fashion-mnist 0.0~git20200523.55506a9-1.
FILES = {
    "train_images": IdxFile("train-images-idx3-ubyte.gz", 0x0803, (60000, 28, 28),
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": IdxFile("train-labels-idx1-ubyte.gz", 0x0801, (60000,),
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": IdxFile("t10k-images-idx3-ubyte.gz", 0x0803, (10000, 28, 28),
                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": IdxFile("t10k-labels-idx1-ubyte.gz", 0x0801, (10000,),
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}

CLASS_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")


class DatasetError(RuntimeError):
    """The dataset is missing or damaged; the message names the file and the fix."""


def resolve_dir(root=None) -> Path:
    """``root`` if given, else ``$FASHION_MNIST_DIR``, else Debian's location."""
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_DIR
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Fashion-MNIST directory {root} does not exist. Fix: {INSTALL_HINT}.")
    return root


def _read_payload(path: Path) -> bytes:
    if not path.is_file():
        raise DatasetError(f"Fashion-MNIST file {path} is missing. Fix: {INSTALL_HINT}.")
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
        raise DatasetError(f"Fashion-MNIST file {path} is truncated or corrupt ({err}). "
                           f"Fix: {REINSTALL_HINT}.") from None


def read_idx(path, spec: IdxFile, verify: bool = True) -> np.ndarray:
    """Decode one gzip'd IDX file into a uint8 array of ``spec.shape``."""
    path = Path(path)
    raw = _read_payload(path)
    if verify and hashlib.sha256(raw).hexdigest() != spec.sha256:
        raise DatasetError(f"Fashion-MNIST file {path} fails its checksum (expected SHA-256 "
                           f"{spec.sha256} of the decompressed data). Fix: {REINSTALL_HINT}.")
    ndim = len(spec.shape)
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DatasetError(f"Fashion-MNIST file {path} is too short to hold an IDX header. "
                           f"Fix: {REINSTALL_HINT}.")
    header = np.frombuffer(raw, dtype=">u4", count=1 + ndim)
    magic, dims = int(header[0]), tuple(int(d) for d in header[1:])
    if magic != spec.magic or dims != spec.shape:
        raise DatasetError(f"Fashion-MNIST file {path} has IDX header magic {magic:#06x} dims {dims}; "
                           f"expected {spec.magic:#06x} {spec.shape}. Fix: {REINSTALL_HINT}.")
    expected = int(np.prod(spec.shape))
    if len(raw) - header_len != expected:
        raise DatasetError(f"Fashion-MNIST file {path} holds {len(raw) - header_len} bytes of data; "
                           f"expected {expected}. Fix: {REINSTALL_HINT}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(spec.shape)


@dataclass(frozen=True)
class FashionMNIST:
    """The whole dataset as read-only uint8 arrays: images (N, 28, 28), labels (N,)."""
    root: Path
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def split(self, train: bool):
        return (self.train_images, self.train_labels) if train else (self.test_images, self.test_labels)


def check_files(root=None) -> dict:
    """Read and verify all four files; return ``{key: path}``.  Raises DatasetError."""
    root = resolve_dir(root)
    for spec in FILES.values():
        read_idx(root / spec.name, spec)
    return {key: root / spec.name for key, spec in FILES.items()}


@functools.lru_cache(maxsize=4)
def _load(root: Path) -> FashionMNIST:
    arrays = {key: read_idx(root / spec.name, spec) for key, spec in FILES.items()}
    return FashionMNIST(root=root, **arrays)


def load_fashion_mnist(root=None) -> FashionMNIST:
    """Read (once per process and folder) and verify the four files."""
    return _load(resolve_dir(root).resolve())
