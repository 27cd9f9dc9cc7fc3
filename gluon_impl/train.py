"""gluonbook's training utilities: ``try_gpu``, ``evaluate_accuracy``, ``train_ch5``.

The loop is the course's, line for line, including its quirks:

* the loss is summed over the batch and ``trainer.step(batch_size)`` divides by
  the *nominal* batch size, so the short last batch of an epoch (60000 % 256 = 96
  examples) takes a step 96/256 as large as a per-example mean would;
* ``l.asscalar()`` every batch (a synchronisation point, as in the course);
* the printed line ``epoch N, loss L, train acc A, test acc B, time T sec``.

One extension: where the course casts labels to ``'float32'`` to compare them
with the predicted class, we cast them to the network output's dtype, which is
float32 in the course and lets the same loop run a float64 network.

Keyword-only extras, all off by default, let ``python -m parity reproduce`` drive
it without changing what it computes: ``start_epoch`` (resume), ``progress``
(wraps the batch iterator, e.g. a tqdm bar), ``on_epoch_end(epoch, record)``
(checkpoints and logs), ``seed_epoch(epoch)`` (reseeds RNGs so that a resumed run
draws what an uninterrupted one would).
"""
import time

import mxnet as mx
from mxnet import autograd, nd
from mxnet.gluon import loss as gloss


def try_gpu():
    """If a GPU exists, return mx.gpu(), otherwise return mx.cpu()."""
    try:
        ctx = mx.gpu()
        _ = nd.zeros((1,), ctx=ctx)
    except mx.base.MXNetError:
        ctx = mx.cpu()
    return ctx


def evaluate_accuracy(data_iter, net, ctx):
    acc_sum, n = nd.array([0], ctx=ctx), 0
    for X, y in data_iter:
        # If ctx is the GPU and copying data to it, copy the data back.
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        y_hat = net(X)
        acc_sum += (y_hat.argmax(axis=1) == y.astype(y_hat.dtype)).sum().astype(acc_sum.dtype)
        n += y.size
    return acc_sum.asscalar() / n


def train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx, num_epochs, *,
              start_epoch=0, progress=None, on_epoch_end=None, seed_epoch=None):
    print('training on', ctx)
    loss = gloss.SoftmaxCrossEntropyLoss()
    history = []
    for epoch in range(start_epoch, num_epochs):
        if seed_epoch:
            seed_epoch(epoch)
        train_l_sum, train_acc_sum, n, start = 0.0, 0.0, 0, time.time()
        batches = progress(train_iter, epoch) if progress else train_iter
        for X, y in batches:
            X, y = X.as_in_context(ctx), y.as_in_context(ctx)
            with autograd.record():
                y_hat = net(X)
                l = loss(y_hat, y).sum()
            l.backward()
            trainer.step(batch_size)
            y = y.astype(y_hat.dtype)  # the course: 'float32'; see the module docstring
            train_l_sum += l.asscalar()
            train_acc_sum += (y_hat.argmax(axis=1) == y).sum().asscalar()
            n += y.size
        test_acc = evaluate_accuracy(test_iter, net, ctx)
        record = {"epoch": epoch + 1, "loss": train_l_sum / n, "train_acc": train_acc_sum / n,
                  "test_acc": float(test_acc), "time": time.time() - start}
        print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, time %.1f sec'
              % (epoch + 1, record["loss"], record["train_acc"], record["test_acc"], record["time"]))
        history.append(record)
        if on_epoch_end:
            on_epoch_end(epoch, record)
    return history
