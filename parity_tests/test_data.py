"""The Fashion-MNIST layer: counts, checksums, clear errors, batching (no framework needed)."""
import gzip

import numpy as np
import pytest

from modern_cnns.data import FILES, BatchStream, DatasetError, load_fashion_mnist, read_idx, resolve_dir, to_float
from parity_tests.conftest import REPO, rewrite_gz


@pytest.fixture(scope="module")
def ds():
    return load_fashion_mnist()


def test_counts_and_class_balance(ds):
    assert ds.train_images.shape == (60000, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (10000, 28, 28)
    assert ds.train_labels.shape == (60000,) and ds.test_labels.shape == (10000,)
    assert np.bincount(ds.train_labels, minlength=10).tolist() == [6000] * 10
    assert np.bincount(ds.test_labels, minlength=10).tolist() == [1000] * 10
    # real images, not blank buffers
    assert ds.train_images.max() == 255 and 0.2 < ds.train_images.mean() / 255 < 0.4


def test_env_var_overrides_default(fmnist_copy, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(fmnist_copy))
    assert resolve_dir() == fmnist_copy
    assert load_fashion_mnist().root == fmnist_copy.resolve()


def test_missing_directory_says_how_to_fix(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR"):
        load_fashion_mnist(tmp_path / "nowhere")


def test_missing_file_is_named(fmnist_copy):
    (fmnist_copy / FILES["test_labels"].name).unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz is missing"):
        load_fashion_mnist(fmnist_copy)


def test_truncated_file_is_named(fmnist_copy):
    path = fmnist_copy / FILES["train_images"].name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz is truncated or corrupt"):
        load_fashion_mnist(fmnist_copy)


def test_not_gzip_is_named(fmnist_copy):
    (fmnist_copy / FILES["train_labels"].name).write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz is truncated or corrupt"):
        load_fashion_mnist(fmnist_copy)


def test_single_flipped_pixel_fails_checksum(fmnist_copy):
    path = fmnist_copy / FILES["test_images"].name

    def flip(raw):
        raw = bytearray(raw)
        raw[5000] ^= 0xFF
        return bytes(raw)

    rewrite_gz(path, flip)
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz fails its checksum"):
        load_fashion_mnist(fmnist_copy)


def test_recompressed_copy_is_accepted(fmnist_copy):
    """The checksum covers the IDX payload, so another gzip of the same data passes."""
    path = fmnist_copy / FILES["test_labels"].name
    before = path.read_bytes()
    rewrite_gz(path, lambda raw: raw)
    assert path.read_bytes() != before
    np.testing.assert_array_equal(read_idx(path, FILES["test_labels"]), load_fashion_mnist().test_labels)


@pytest.mark.parametrize("magic,payload,message", [
    (0x0801, 9000, "holds 9000 bytes of data; expected 10000"),   # short: never a silently short dataset
    (0x0803, 10000, "IDX header magic 0x0803"),                    # an images file posing as labels
])
def test_header_and_length_checks_hold_without_the_checksum(tmp_path, magic, payload, message):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(np.array([magic, 10000], dtype=">u4").tobytes() + bytes(payload))
    with pytest.raises(DatasetError, match=message):
        read_idx(path, FILES["test_labels"], verify=False)


def test_to_float_is_totensor_scaling(ds):
    X = to_float(ds.test_images[:8])
    assert X.shape == (8, 1, 28, 28) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 0] * np.float32(255), ds.test_images[:8].astype(np.float32))
    assert to_float(ds.test_images[:2], resize=96).shape == (2, 1, 96, 96)


def test_stream_covers_every_example_once_per_epoch(ds):
    stream = BatchStream(ds.test_images, ds.test_labels, batch_size=256, shuffle=True, seed=3)
    assert len(stream) == 40
    for _ in range(2):
        batches = list(stream)
        assert [len(y) for _, y in batches] == [256] * 39 + [16]  # last batch kept, as Gluon and torch do
        labels = np.concatenate([y for _, y in batches])
        assert np.bincount(labels).tolist() == [1000] * 10


def test_same_seed_same_batches_other_seed_other_batches(ds):
    def first_labels(seed, epochs=2):
        stream = BatchStream(ds.train_images, ds.train_labels, batch_size=64, shuffle=True, seed=seed)
        return [next(iter(stream))[1] for _ in range(epochs)]

    a, b, c = first_labels(7), first_labels(7), first_labels(8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], a[1])  # a new permutation each epoch


def test_test_split_is_not_shuffled(ds):
    X, y = next(iter(BatchStream(ds.test_images, ds.test_labels, batch_size=5)))
    np.testing.assert_array_equal(y, ds.test_labels[:5])


@pytest.mark.slow
def test_a_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    """A valid header, then 3 GB of zeros (3 MB compressed), read under a 1.5 GB address-space cap."""
    import struct
    import subprocess
    import sys
    import zlib

    spec = FILES["train_images"]
    bomb = tmp_path / spec.name
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    zeros = bytes(1 << 24)
    with open(bomb, "wb") as f:
        f.write(packer.compress(struct.pack(">IIII", spec.magic, *spec.shape)))
        for _ in range(3 * 64):  # 3 GiB
            f.write(packer.compress(zeros))
        f.write(packer.flush())
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))\n"
            "from data import FILES, DatasetError, read_idx\n"
            "try:\n"
            f"    read_idx({str(bomb)!r}, FILES['train_images'])\n"
            "except DatasetError as err:\n"
            "    print('REFUSED', err)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"REFUSED Fashion-MNIST file {bomb} decompresses to more than the" in proc.stdout
