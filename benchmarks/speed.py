"""Speed figures, each beside its reference, measured in one run (prints; asserts nothing).

    .venv/bin/python benchmarks/speed.py [BATCHES] [--sweep] [--course-run]

1. The torch port's course loop (``train_ch5``: Gluon-exact BatchNorm, per-batch ``.item()``,
   then a test pass) against a bare PyTorch loop with stock ``nn.BatchNorm2d/1d`` and the same
   bookkeeping, on the same batches.  Goal: the port within 1.2x.
2. Our Gluon ``train_ch5`` against the course's own loop (gluonbook's ``train_ch5``, verbatim
   below), on the same batches.
3. Achieved GFLOP/s of a training step (BN-LeNet and the gluonbook ResNet, batch 256, 28x28)
   in each framework, against this machine's measured sgemm peak (torch ``mm``, 2048x2048).
   FLOPs are counted by ``torch.utils.flop_counter`` on the torch port (the same network).
4. ``--sweep``: the default parity sweep with ``--jobs 1`` and with one job per core.
5. ``--course-run``: the concise BN-LeNet course run, 5 epochs in both frameworks
   (``python -m parity reproduce bn_lenet_concise``), side by side and with ``--serial``.
"""
import os
import subprocess
import sys
import time

from modern_cnns.parity.frameworks import cores  # noqa: E402  (imports no framework)

os.environ.setdefault("MXNET_OMP_MAX_THREADS", str(cores()))

import mxnet as mx  # noqa: E402
import torch  # noqa: E402
from mxnet import autograd, gluon, init, nd  # noqa: E402
from mxnet.gluon import loss as gloss  # noqa: E402
from torch import nn  # noqa: E402

from modern_cnns.gluon_impl.data import load_data_fashion_mnist as gluon_data  # noqa: E402
from modern_cnns.gluon_impl.train import train_ch5 as gluon_train_ch5  # noqa: E402
from modern_cnns.parity.catalog import registry  # noqa: E402
from modern_cnns.parity.frameworks import set_threads  # noqa: E402
from modern_cnns.parity.runs.reproduce import Limited  # noqa: E402
from modern_cnns.parity.weights.init import xavier_like_gluon  # noqa: E402
from modern_cnns.torch_impl import gluon_layers  # noqa: E402
from modern_cnns.torch_impl.data import load_data_fashion_mnist as torch_data  # noqa: E402
from modern_cnns.torch_impl.train import train_ch5 as torch_train_ch5  # noqa: E402

BATCHES = int(next((a for a in sys.argv[1:] if a.isdigit()), 60))
BS, TEST_BATCHES = 256, 10
THREADS = set_threads()  # after MXNet loaded: its import dropped torch to 1 thread


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def quiet(fn):
    """Run ``fn`` with the loops' epoch lines silenced."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


# --------------------------------------------------------------------------- 1. torch port vs bare
def stock_batchnorm(module):
    """The port with stock torch BatchNorm in place of the Gluon-exact one (same shape of network)."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, gluon_layers.BatchNorm):
                cls = nn.BatchNorm2d if name in ("1", "5") else nn.BatchNorm1d
                setattr(parent, name, cls(child.num_features))
    return module


def torch_epoch(stock):
    torch.manual_seed(0)
    net = registry.get("bn_lenet_concise").build_torch()
    if stock:
        stock_batchnorm(net)
    xavier_like_gluon(net)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    train, test = torch_data(BS, seed=0)
    return seconds(lambda: quiet(lambda: torch_train_ch5(net, Limited(train, BATCHES), Limited(test, TEST_BATCHES),
                                                         BS, opt, "cpu", 1)))


# --------------------------------------------------------------------------- 2. Gluon: ours vs course
def course_train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx, num_epochs):
    """gluonbook's train_ch5, as the course prints it (evaluate_accuracy inlined)."""
    loss = gloss.SoftmaxCrossEntropyLoss()
    for epoch in range(num_epochs):
        train_l_sum, train_acc_sum, n, start = 0.0, 0.0, 0, time.time()
        for X, y in train_iter:
            X, y = X.as_in_context(ctx), y.as_in_context(ctx)
            with autograd.record():
                y_hat = net(X)
                l = loss(y_hat, y).sum()
            l.backward()
            trainer.step(batch_size)
            y = y.astype('float32')
            train_l_sum += l.asscalar()
            train_acc_sum += (y_hat.argmax(axis=1) == y).sum().asscalar()
            n += y.size
        acc_sum, m = nd.array([0], ctx=ctx), 0
        for X, y in test_iter:
            X, y = X.as_in_context(ctx), y.as_in_context(ctx).astype('float32')
            acc_sum += (net(X).argmax(axis=1) == y).sum()
            m += y.size
        test_acc = acc_sum.asscalar() / m
        print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, time %.1f sec'
              % (epoch + 1, train_l_sum / n, train_acc_sum / n, test_acc, time.time() - start))


def gluon_epoch(loop):
    mx.random.seed(0)
    net = registry.get("bn_lenet_concise").build_gluon()
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})
    train, test = gluon_data(BS, seed=0)
    return seconds(lambda: quiet(lambda: loop(net, Limited(train, BATCHES), Limited(test, TEST_BATCHES), BS,
                                              trainer, mx.cpu(), 1)))


# --------------------------------------------------------------------------- 3. GFLOP/s
def sgemm_peak():
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    torch.mm(a, b)
    reps = 10
    elapsed = seconds(lambda: [torch.mm(a, b) for _ in range(reps)])
    return 2 * 2048 ** 3 * reps / elapsed / 1e9


def step_flops(name):
    from torch.utils.flop_counter import FlopCounterMode

    net = registry.get(name).build_torch()
    x, y = torch.rand(BS, 1, 28, 28), torch.randint(0, 10, (BS,))
    with FlopCounterMode(display=False) as counter:
        nn.functional.cross_entropy(net(x), y).backward()
    return counter.get_total_flops()


def torch_step_seconds(name, steps=5):
    net = registry.get(name).build_torch()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = torch.rand(BS, 1, 28, 28), torch.randint(0, 10, (BS,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    step()
    return seconds(lambda: [step() for _ in range(steps)]) / steps


def gluon_step_seconds(name, steps=5):
    net = registry.get(name).build_gluon()
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    loss = gloss.SoftmaxCrossEntropyLoss()
    x, y = nd.random.uniform(shape=(BS, 1, 28, 28)), nd.array(torch.randint(0, 10, (BS,)).numpy())

    def step():
        with autograd.record():
            l = loss(net(x), y).sum()
        l.backward()
        trainer.step(BS)
        mx.nd.waitall()
    step()
    return seconds(lambda: [step() for _ in range(steps)]) / steps


# --------------------------------------------------------------------------- 4. the sweep
def sweep_seconds(jobs):
    cmd = [sys.executable, "-m", "parity", "check"] + ([] if jobs is None else ["--jobs", str(jobs)])
    return seconds(lambda: subprocess.run(cmd, capture_output=True, check=False))


# --------------------------------------------------------------------------- 5. the course run
def course_run_seconds(*extra):
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "parity", "reproduce", "bn_lenet_concise", "--out", out, *extra]
        return seconds(lambda: subprocess.run(cmd, capture_output=True, check=True))


def main():
    print(f"threads: MXNET_OMP_MAX_THREADS={os.environ['MXNET_OMP_MAX_THREADS']}, torch {THREADS}; "
          f"{BATCHES} training batches of {BS} and {TEST_BATCHES} test batches per loop")
    port, bare = torch_epoch(stock=False), torch_epoch(stock=True)
    print(f"1. torch port train_ch5      {port:6.2f} s   bare stock-BN loop {bare:6.2f} s   "
          f"ratio {port / bare:.2f} (goal <= 1.20)")
    ours, course = gluon_epoch(gluon_train_ch5), gluon_epoch(course_train_ch5)
    print(f"2. gluon train_ch5 (ours)    {ours:6.2f} s   the course's loop  {course:6.2f} s   "
          f"ratio {ours / course:.2f}")
    peak = sgemm_peak()
    print(f"3. sgemm peak (torch mm 2048^2): {peak:.1f} GFLOP/s")
    for name in ("bn_lenet_concise", "resnet"):
        flops = step_flops(name)
        for framework, timer in (("torch", torch_step_seconds), ("gluon", gluon_step_seconds)):
            t = timer(name)
            print(f"   {name:17s} {framework} training step: {flops / 1e9:6.2f} GFLOP in {t * 1000:7.1f} ms = "
                  f"{flops / t / 1e9:6.1f} GFLOP/s ({100 * flops / t / 1e9 / peak:4.1f}% of peak)")
    if "--sweep" in sys.argv:
        serial, parallel = sweep_seconds(1), sweep_seconds(None)
        print(f"4. parity sweep: --jobs 1 {serial:.1f} s, one job per core {parallel:.1f} s "
              f"({serial / parallel:.2f}x; goal <= 60 s)")
    if "--course-run" in sys.argv:
        side, serial = course_run_seconds(), course_run_seconds("--serial")
        print(f"5. concise BN-LeNet, 5 epochs x 2 frameworks: side by side {side:.1f} s, --serial {serial:.1f} s "
              f"(goal <= 90 s)")


if __name__ == "__main__":
    main()
