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
    try:
        exists = root.is_dir()
    except PermissionError as err:
        raise DatasetError(f"Fashion-MNIST directory {root} cannot be searched ({err.strerror}). Fix: give this "
                           f"user access to it, or point {ENV_VAR} at a readable copy.") from None
    if not exists:
        raise DatasetError(f"Fashion-MNIST directory {root} does not exist. Fix: {INSTALL_HINT}.")
    return root


def _read_payload(path: Path, spec: IdxFile) -> bytes:
    """The decompressed IDX bytes, read in bounded memory: header first, then exactly what it declares.

    A gzip bomb (or any file that decompresses to more than its header promises) is refused
    after reading at most the declared size plus one byte.
    """
    try:
        if not path.is_file():
            raise DatasetError(f"Fashion-MNIST file {path} is missing. Fix: {INSTALL_HINT}.")
        with gzip.open(path, "rb") as f:
            header_len = 4 + 4 * len(spec.shape)
            header = f.read(header_len)
            if len(header) < header_len:
                raise DatasetError(f"Fashion-MNIST file {path} is too short to hold an IDX header. "
                                   f"Fix: {REINSTALL_HINT}.")
            magic, *dims = (int(v) for v in np.frombuffer(header, dtype=">u4"))
            if magic != spec.magic or tuple(dims) != spec.shape:
                raise DatasetError(f"Fashion-MNIST file {path} has IDX header magic {magic:#06x} dims "
                                   f"{tuple(dims)}; expected {spec.magic:#06x} {spec.shape}. Fix: {REINSTALL_HINT}.")
            declared = int(np.prod(spec.shape))
            data = f.read(declared + 1)
    except PermissionError as err:
        raise DatasetError(f"Fashion-MNIST file {path} cannot be read ({err.strerror}). Fix: give this user "
                           f"read access to it and its folder, or point {ENV_VAR} at a readable copy.") from None
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
        raise DatasetError(f"Fashion-MNIST file {path} is truncated or corrupt ({err}). "
                           f"Fix: {REINSTALL_HINT}.") from None
    if len(data) > declared:
        raise DatasetError(f"Fashion-MNIST file {path} decompresses to more than the {declared + header_len} "
                           f"bytes its IDX header declares (refused unread: a damaged or hostile file). "
                           f"Fix: {REINSTALL_HINT}.")
    if len(data) < declared:
        raise DatasetError(f"Fashion-MNIST file {path} holds {len(data)} bytes of data; expected {declared}. "
                           f"Fix: {REINSTALL_HINT}.")
    return header + data


def read_idx(path, spec: IdxFile, verify: bool = True) -> np.ndarray:
    """Decode one gzip'd IDX file into a uint8 array of ``spec.shape``."""
    path = Path(path)
    raw = _read_payload(path, spec)
    if verify and hashlib.sha256(raw).hexdigest() != spec.sha256:
        raise DatasetError(f"Fashion-MNIST file {path} fails its checksum (expected SHA-256 "
                           f"{spec.sha256} of the decompressed data). Fix: {REINSTALL_HINT}.")
    header_len = 4 + 4 * len(spec.shape)
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
