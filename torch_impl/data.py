"""d2l's ``load_data_fashion_mnist`` over the shared numpy pipeline.

Batches are tensors: ``X`` float32 (B, 1, H, W) and ``y`` int64 (B,), as
``torch.utils.data.DataLoader`` over torchvision's FashionMNIST gives them.  With
the same ``seed`` the batches equal those of ``gluon_impl.data``, in the same
order.
"""
import torch

from modern_cnns.data import BatchStream, load_fashion_mnist


class TensorLoader:
    """Wraps a :class:`data.BatchStream` and yields tensors on ``device``."""

    def __init__(self, stream: BatchStream, device=None):
        self.stream, self.device = stream, device

    def __len__(self):
        return len(self.stream)

    def __iter__(self):
        for X, y in self.stream:
            yield torch.from_numpy(X).to(self.device), torch.from_numpy(y).to(self.device)


def load_data_fashion_mnist(batch_size, resize=None, root=None, seed=None, device=None):
    """Return ``(train_iter, test_iter)``; the training set is shuffled, the test set is not."""
    ds = load_fashion_mnist(root)
    train = BatchStream(ds.train_images, ds.train_labels, batch_size, shuffle=True, seed=seed, resize=resize)
    test = BatchStream(ds.test_images, ds.test_labels, batch_size, shuffle=False, resize=resize)
    return TensorLoader(train, device), TensorLoader(test, device)
