"""The shared pipeline against Gluon's own transforms, and identical batches in both frameworks."""
import numpy as np
import pytest

from modern_cnns.data import load_fashion_mnist, resize_images, to_float
from parity_tests.conftest import needs_both, needs_gluon, needs_torch


@pytest.fixture(scope="module")
def images():
    return load_fashion_mnist().train_images[:64]


@needs_gluon
@pytest.mark.parametrize("size", [96, 224])
def test_resize_matches_gluon_transforms_resize(images, size):
    """The course's ``transforms.Resize(size)``, image by image, equals our batch resize bit for bit."""
    import mxnet as mx
    from mxnet.gluon.data.vision import transforms

    gluon_resize = transforms.Resize(size)
    expected = np.stack([gluon_resize(mx.nd.array(img[:, :, None], dtype="uint8")).asnumpy()[:, :, 0]
                         for img in images])
    np.testing.assert_array_equal(resize_images(images, size), expected)


@needs_gluon
@pytest.mark.parametrize("resize", [None, 96])
def test_to_float_matches_gluon_compose(images, resize):
    import mxnet as mx
    from mxnet.gluon.data.vision import transforms

    steps = ([transforms.Resize(resize)] if resize else []) + [transforms.ToTensor()]
    compose = transforms.Compose(steps)
    expected = np.stack([compose(mx.nd.array(img[:, :, None], dtype="uint8")).asnumpy() for img in images[:16]])
    np.testing.assert_array_equal(to_float(images[:16], resize), expected)


@needs_gluon
def test_gluon_loader_dtypes():
    from modern_cnns.gluon_impl.data import load_data_fashion_mnist

    train_iter, test_iter = load_data_fashion_mnist(256, seed=0)
    X, y = next(iter(train_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == np.float32 and y.dtype == np.int32
    assert len(train_iter) == 235 and len(test_iter) == 40


@needs_torch
def test_torch_loader_dtypes():
    import torch

    from modern_cnns.torch_impl.data import load_data_fashion_mnist

    train_iter, _ = load_data_fashion_mnist(256, resize=96, seed=0)
    X, y = next(iter(train_iter))
    assert X.shape == (256, 1, 96, 96) and X.dtype == torch.float32 and y.dtype == torch.int64


@needs_both
@pytest.mark.parametrize("resize", [None, 96])
def test_same_seed_same_batches_in_both_frameworks(resize):
    from modern_cnns.gluon_impl.data import load_data_fashion_mnist as gluon_load
    from modern_cnns.torch_impl.data import load_data_fashion_mnist as torch_load

    g_train, g_test = gluon_load(128, resize=resize, seed=11)
    t_train, t_test = torch_load(128, resize=resize, seed=11)
    for _epoch in range(2):
        for i, ((gX, gy), (tX, ty)) in enumerate(zip(g_train, t_train)):
            np.testing.assert_array_equal(gX.asnumpy(), tX.numpy())
            np.testing.assert_array_equal(gy.asnumpy(), ty.numpy())
            if i == 3:
                break
    (gX, gy), (tX, ty) = next(iter(g_test)), next(iter(t_test))
    np.testing.assert_array_equal(gX.asnumpy(), tX.numpy())
    np.testing.assert_array_equal(gy.asnumpy(), ty.numpy())
