"""gluonbook's ``load_data_fashion_mnist`` over the shared numpy pipeline.

Batches are NDArrays: ``X`` float32 (B, 1, H, W) and ``y`` int32 (B,), the label
dtype of ``gluon.data.vision.FashionMNIST``.  The course shuffled with
``DataLoader(shuffle=True)``; we shuffle with a seeded generator instead, so that
``torch_impl.data.load_data_fashion_mnist`` yields the very same batches.
"""
from mxnet import nd

from modern_cnns.data import BatchStream, load_fashion_mnist


class NDArrayLoader:
    """Wraps a :class:`data.BatchStream` and yields NDArrays on ``ctx``."""

    def __init__(self, stream: BatchStream, ctx=None):
        self.stream, self.ctx = stream, ctx

    def __len__(self):
        return len(self.stream)

    def __iter__(self):
        for X, y in self.stream:
            yield nd.array(X, ctx=self.ctx, dtype=X.dtype), nd.array(y, ctx=self.ctx, dtype="int32")


def load_data_fashion_mnist(batch_size, resize=None, root=None, seed=None, ctx=None):
    """Return ``(train_iter, test_iter)``; the training set is shuffled, the test set is not."""
    ds = load_fashion_mnist(root)
    train = BatchStream(ds.train_images, ds.train_labels, batch_size, shuffle=True, seed=seed, resize=resize)
    test = BatchStream(ds.test_images, ds.test_labels, batch_size, shuffle=False, resize=resize)
    return NDArrayLoader(train, ctx), NDArrayLoader(test, ctx)
