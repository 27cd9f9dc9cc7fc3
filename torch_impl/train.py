"""Training loops: d2l's ``train_ch6`` (seed 003) and a port of gluonbook's ``train_ch5``.

``train_ch5`` here matches ``gluon_impl.train.train_ch5`` step for step: the
summed loss divided by the *nominal* batch size (Gluon's
``trainer.step(batch_size)``; the short last batch included), plain SGD, the
same bookkeeping and printed line.  Prediction (``evaluate_accuracy``) runs in
``eval()`` mode under ``no_grad``, Gluon's "outside ``autograd.record()``".
The keyword-only extras are those of the Gluon loop.
"""
import time

import torch
from torch import nn


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
            (l / batch_size).backward()  # = Gluon's trainer.step(batch_size)
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
    """d2l 0.17's initialisation in ``train_ch6``: Xavier-uniform on Linear and Conv2d weights."""
    if type(m) == nn.Linear or type(m) == nn.Conv2d:  # noqa: E721 (d2l's exact-type test, kept)
        nn.init.xavier_uniform_(m.weight)


def train_ch6(net, train_iter, test_iter, num_epochs, lr, device, *,
              start_epoch=0, progress=None, on_epoch_end=None, seed_epoch=None, optimizer=None):
    """d2l 0.17's ``train_ch6``: mean loss, SGD, per-example bookkeeping, one summary line at the end.

    Seed 003 initialises inside (``net.apply(init_weights)``); here that happens
    on a fresh start only (``start_epoch == 0``), not when resuming.  An
    ``optimizer`` handed in (e.g. restored from a checkpoint) replaces the SGD
    the course creates.
    """
    if start_epoch == 0:
        net.apply(init_weights_ch6)
    print('training on', device)
    net.to(device)
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    history, train_seconds = [], 0.0
    for epoch in range(start_epoch, num_epochs):
        if seed_epoch:
            seed_epoch(epoch)
        l_sum, acc_sum, n = 0.0, 0.0, 0
        net.train()
        start = time.time()
        batches = progress(train_iter, epoch) if progress else train_iter
        for X, y in batches:
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
        epoch_seconds = time.time() - start
        train_seconds += epoch_seconds
        test_acc = evaluate_accuracy(test_iter, net, device)
        record = {"epoch": epoch + 1, "loss": l_sum / n, "train_acc": acc_sum / n, "test_acc": float(test_acc),
                  "time": epoch_seconds, "examples_per_sec": n / epoch_seconds}
        history.append(record)
        if on_epoch_end:
            on_epoch_end(epoch, record)
    if history:
        last = history[-1]
        print(f'loss {last["loss"]:.3f}, train acc {last["train_acc"]:.3f}, test acc {last["test_acc"]:.3f}')
        total = sum(r["examples_per_sec"] * r["time"] for r in history)
        print(f'{total / max(train_seconds, 1e-9):.1f} examples/sec on {str(device)}')
    return history
