"""Time the faithful scratch BN-LeNet (Gluon, gluonbook §5.11.3) over N batches of 256: seconds per batch and per epoch.

Run under different thread settings to find the fastest, e.g.
    OMP_NUM_THREADS=1 python benchmarks/bn_lenet_gluon_epoch.py
    MXNET_ENGINE_TYPE=NaiveEngine python benchmarks/bn_lenet_gluon_epoch.py
"""
import os
import sys
import time

import mxnet as mx
from mxnet import gluon, init

from modern_cnns.gluon_impl.data import load_data_fashion_mnist
from modern_cnns.gluon_impl.train import train_ch5
from modern_cnns.parity.catalog import registry
from modern_cnns.parity.runs.reproduce import Limited

name = sys.argv[1] if len(sys.argv) > 1 else "bn_lenet_scratch"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 60
net = registry.get(name).build_gluon()
net.initialize(init=init.Xavier())
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})
train_iter, test_iter = load_data_fashion_mnist(256, seed=0)
start = time.perf_counter()
train_ch5(net, Limited(train_iter, n), Limited(test_iter, 1), 256, trainer, mx.cpu(), 1)
per_batch = (time.perf_counter() - start) / n
settings = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "MXNET_", "MKL"))}
print(f"{name}: {per_batch * 1000:.1f} ms/batch -> {per_batch * 235:.1f} s per 235-batch epoch  {settings}")
