"""Images per second of our training loops against a bare loop, in each framework (prints figures).

    .venv/bin/python benchmarks/loops.py [NETWORK] [BATCHES]

NETWORK defaults to bn_lenet_concise (gluonbook edition); BATCHES to 40 batches of 256.
"Ours" is train_ch5 (per-batch asscalar/item bookkeeping, as the course does);
"bare" is forward, backward and step with no bookkeeping and one sync at the end.
Set MXNET_OMP_MAX_THREADS like `python -m parity` does for comparable figures.
"""
import os
import sys
import time

from modern_cnns.parity.frameworks import cores  # noqa: E402  (imports no framework)

os.environ.setdefault("MXNET_OMP_MAX_THREADS", str(cores()))

import mxnet as mx  # noqa: E402
import torch  # noqa: E402
from mxnet import autograd, gluon, init  # noqa: E402

from modern_cnns.gluon_impl.data import load_data_fashion_mnist as gluon_data  # noqa: E402
from modern_cnns.gluon_impl.train import train_ch5 as gluon_train_ch5  # noqa: E402
from modern_cnns.parity.catalog import registry  # noqa: E402
from modern_cnns.parity.runs.reproduce import Limited  # noqa: E402
from modern_cnns.parity.weights.init import xavier_like_gluon  # noqa: E402
from modern_cnns.torch_impl.data import load_data_fashion_mnist as torch_data  # noqa: E402
from modern_cnns.torch_impl.train import train_ch5 as torch_train_ch5  # noqa: E402

name = sys.argv[1] if len(sys.argv) > 1 else "bn_lenet_concise"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
entry, bs = registry.get(name), 256


def gluon_setup():
    net = entry.build_gluon()
    net.initialize(init=init.Xavier())
    return net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})


def torch_setup():
    net = entry.build_torch()
    xavier_like_gluon(net)
    return net, torch.optim.SGD(net.parameters(), lr=1.0)


def timed(fn):
    start = time.perf_counter()
    fn()
    return n * bs / (time.perf_counter() - start)


def gluon_ours():
    net, trainer = gluon_setup()
    train, test = gluon_data(bs, seed=0)
    return timed(lambda: gluon_train_ch5(net, Limited(train, n), Limited(test, 1), bs, trainer, mx.cpu(), 1))


def gluon_bare():
    net, trainer = gluon_setup()
    train, _ = gluon_data(bs, seed=0)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()

    def loop():
        for X, y in Limited(train, n):
            with autograd.record():
                l = loss(net(X), y).sum()
            l.backward()
            trainer.step(bs)
        mx.nd.waitall()
    return timed(loop)


def torch_ours():
    net, opt = torch_setup()
    train, test = torch_data(bs, seed=0)
    return timed(lambda: torch_train_ch5(net, Limited(train, n), Limited(test, 1), bs, opt, "cpu", 1))


def torch_bare():
    net, opt = torch_setup()
    train, _ = torch_data(bs, seed=0)
    loss = torch.nn.CrossEntropyLoss()

    def loop():
        for X, y in Limited(train, n):
            opt.zero_grad()
            loss(net(X), y).backward()
            opt.step()
    return timed(loop)


results = {}
for label, fn in [("gluon train_ch5", gluon_ours), ("gluon bare loop", gluon_bare),
                  ("torch train_ch5", torch_ours), ("torch bare loop", torch_bare)]:
    results[label] = fn()
print(f"\n{name}, {n} batches of {bs}, threads: MXNET_OMP_MAX_THREADS={os.environ['MXNET_OMP_MAX_THREADS']}, "
      f"torch {torch.get_num_threads()}")
for label, rate in results.items():
    print(f"  {label:16s} {rate:8.0f} images/s  ({60000 / rate:6.1f} s per 60000-image epoch)")
