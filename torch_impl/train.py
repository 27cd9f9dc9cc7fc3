"""Training loops: d2l 0.17's ``train_ch6`` (§6.6) and a port of gluonbook's ``train_ch5``.

``train_ch5`` here matches ``gluon_impl.train.train_ch5`` step for step: the
summed loss divided by the *nominal* batch size (Gluon's
``trainer.step(batch_size)``; the short last batch included), plain SGD, the
same bookkeeping and printed line.  Prediction (``evaluate_accuracy``) runs in
``eval()`` mode under ``no_grad``, Gluon's "outside ``autograd.record()``".
The keyword-only extras are those of the Gluon loop.
"""
import time

import numpy as np
import torch
from torch import nn


# The one place where Gluon's step is written in torch.  gluonbook sums the loss over the batch,
# backpropagates the sum and calls ``trainer.step(batch_size)``, which divides the gradients by
# ``batch_size`` before the SGD update.  In torch: backpropagate ``summed / batch_size``.  Gluon
# keeps the learning rate as a float32, so torch is given that value.  The parity checker, the
# lockstep run and ``train_ch5`` below all step this way.
def sgd_like_gluon(params, lr):
    """``gluon.Trainer(params, 'sgd', {'learning_rate': lr})`` in torch: plain SGD, lr rounded to float32."""
    return torch.optim.SGD(params, lr=float(np.float32(lr)))


def loss_to_step(summed, batch_size):
    """The loss to backpropagate for Gluon's ``summed.backward(); trainer.step(batch_size)``.

    ``Trainer.step(batch_size)`` rescales the gradient by ``1 / batch_size`` held as a float32 (the
    optimizer operator's ``rescale_grad`` parameter is a C++ float), as it does its learning rate: for
    a batch of 3 that is 0.3333333432674408, and a float64 port dividing exactly differs from Gluon by
    3e-8 after one step.  Multiplying by the same float32 value reproduces it; for a power-of-two batch
    (every course run) both are exact and equal.
    """
    return summed * gluon_rescale(batch_size)


def gluon_rescale(batch_size):
    """The factor ``Trainer.step(batch_size)`` scales gradients by: ``1 / batch_size`` as a float32."""
    return float(np.float32(1.0 / batch_size))



def try_gpu(i=0):
    """Return gpu(i) if exists, otherwise return cpu()."""
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f'cuda:{i}')
    return torch.device('cpu')


def evaluate_accuracy(data_iter, net, device):
    net.eval()
    acc_sum, n = 0.0, 0
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            acc_sum += (net(X).argmax(dim=1) == y).sum().item()
            n += y.numel()
    return acc_sum / n


def train_ch5(net, train_iter, test_iter, batch_size, optimizer, device, num_epochs, *,
              start_epoch=0, progress=None, on_epoch_end=None, seed_epoch=None):
    print('training on', device)
    loss = nn.CrossEntropyLoss(reduction='none')
    history = []
    for epoch in range(start_epoch, num_epochs):
        if seed_epoch:
            seed_epoch(epoch)
        net.train()
        train_l_sum, train_acc_sum, n, start = 0.0, 0.0, 0, time.time()
        batches = progress(train_iter, epoch) if progress else train_iter
        for X, y in batches:
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y).sum()
            optimizer.zero_grad()
            loss_to_step(l, batch_size).backward()  # = Gluon's trainer.step(batch_size)
            optimizer.step()
            train_l_sum += l.item()
            train_acc_sum += (y_hat.argmax(dim=1) == y).sum().item()
            n += y.numel()
        test_acc = evaluate_accuracy(test_iter, net, device)
        record = {"epoch": epoch + 1, "loss": train_l_sum / n, "train_acc": train_acc_sum / n,
                  "test_acc": float(test_acc), "time": time.time() - start}
        print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, time %.1f sec'
              % (epoch + 1, record["loss"], record["train_acc"], record["test_acc"], record["time"]))
        history.append(record)
        if on_epoch_end:
            on_epoch_end(epoch, record)
    return history


def init_weights_ch6(m):
    """d2l 0.17's initialisation in ``train_ch6``: Xavier-uniform on Linear and Conv2d weights.

    d2l tests the exact type (``type(m) == nn.Conv2d``) on its own networks, built from plain
    layers; the ports here subclass them (``gluon_layers.Conv2D``, ``Dense``), so the test is
    ``isinstance``: the same layers initialised, on either kind of network.
    """
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(m.weight)


def init_cnn(m):
    """d2l 1.0's ``init_cnn`` (§7.6) where it takes effect: Xavier-uniform on Linear and Conv2d weights.

    The course's VGG, NiN and BN-LeNets call it through ``apply_init``, after a first forward,
    so it reaches their layers; the ports' layers have shapes from the start, hence
    ``isinstance``.  AlexNet and DenseNet apply it to Lazy layers, where the edition's exact-type
    test matches nothing (``d2l_lazy``): their experiments do not apply it at all.
    """
    init_weights_ch6(m)


def train_ch6(net, train_iter, test_iter, num_epochs, lr, device, *,
              start_epoch=0, progress=None, on_epoch_end=None, seed_epoch=None, optimizer=None,
              init=init_weights_ch6):
    """d2l 0.17's ``train_ch6``: mean loss, SGD, per-example bookkeeping, one summary line at the end.

    d2l 1.0's ``Trainer.fit`` with ``init_cnn`` takes the same steps (SGD on the mean
    cross-entropy, ``eval()`` for validation); it plots where this prints.  ``init=init_cnn``
    names that edition's initialiser, ``init=None`` leaves the network as built (d2l 1.0's
    AlexNet and DenseNet, whose ``init_cnn`` never reaches a layer).

    d2l 0.17 initialises inside (``net.apply(init_weights)``); here that happens
    on a fresh start only (``start_epoch == 0``), not when resuming.  An
    ``optimizer`` handed in (e.g. restored from a checkpoint) replaces the SGD
    the course creates.
    """
    if start_epoch == 0 and init is not None:
        net.apply(init)
    print('training on', device)
    net.to(device)
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    history, train_seconds, examples = [], 0.0, 0
    for epoch in range(start_epoch, num_epochs):
        if seed_epoch:
            seed_epoch(epoch)
        l_sum, acc_sum, n, step_seconds = 0.0, 0.0, 0, 0.0
        net.train()
        start = time.time()
        batches = progress(train_iter, epoch) if progress else train_iter
        for X, y in batches:
            step_start = time.time()  # d2l's timer.start(): after the batch is loaded
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                l_sum += float(l) * X.shape[0]
                acc_sum += float((y_hat.argmax(dim=1) == y).sum())
                n += X.shape[0]
            step_seconds += time.time() - step_start  # d2l's timer.stop()
        train_seconds, examples = train_seconds + step_seconds, examples + n
        test_acc = evaluate_accuracy(test_iter, net, device)
        record = {"epoch": epoch + 1, "loss": l_sum / n, "train_acc": acc_sum / n, "test_acc": float(test_acc),
                  "time": time.time() - start, "examples_per_sec": n / max(step_seconds, 1e-9)}
        history.append(record)
        if on_epoch_end:
            on_epoch_end(epoch, record)
    if history:
        last = history[-1]
        print(f'loss {last["loss"]:.3f}, train acc {last["train_acc"]:.3f}, test acc {last["test_acc"]:.3f}')
        # d2l: metric[2] * num_epochs / timer.sum(), its timer running over the training steps
        # only (not data loading, not the test pass): so here
        print(f'{examples / max(train_seconds, 1e-9):.1f} examples/sec on {str(device)}')
    return history
