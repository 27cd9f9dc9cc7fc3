"""``python -m parity lockstep``: both frameworks trained from the same weights on the same batches.

Gluon is initialised once (Xavier), its state moved to the torch port; then each
step feeds the same batch to both (gluonbook's summed loss and
``Trainer.step(batch_size)``; the torch port's summed loss / batch size and SGD).
Every ``every`` steps it prints the largest difference over all parameters and
statistics, relative to their scale.  In float64 the trajectories stay within
rounding; in float32 they drift apart, because near-ties in max-pooling and the
sigmoid/ReLU saturations amplify float32 rounding step after step.
"""
from __future__ import annotations

import numpy as np

from parity import experiments, registry
from parity.compare import diff
from parity.state import gluon_slots, torch_slots
from parity.tolerance import scale_floor


def max_state_diff(block, module, names):
    """The tensor with the largest relative difference, scales floored as in parity.tolerance."""
    g = {name: slot.read() for name, slot in gluon_slots(block).items()}
    t, _ = torch_slots(module)
    floor = scale_floor(g.values())
    return max((diff(name, t[names[name]].read(), value, floor) for name, value in g.items()),
               key=lambda d: d.max_rel)


def lockstep(name, dtype="float32", steps=200, every=20, batch_size=None, lr=None, seed=0, out=print):
    import torch
    from mxnet import autograd, gluon, nd

    from data import BatchStream, load_fashion_mnist
    from parity.pairs import build_pair

    exp = experiments.get(name)
    entry = registry.get(exp.network)
    batch_size, lr = batch_size or exp.batch_size, lr or exp.lr
    block, module, names = build_pair(entry, dtype, seed=seed)
    trainer = gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": lr})
    optimizer = torch.optim.SGD(module.parameters(), lr=float(np.float32(lr)))  # Gluon keeps lr as float32
    g_loss, t_loss = gluon.loss.SoftmaxCrossEntropyLoss(), torch.nn.CrossEntropyLoss(reduction="sum")
    ds = load_fashion_mnist()
    stream = BatchStream(ds.train_images, ds.train_labels, batch_size, shuffle=True, seed=seed, resize=exp.resize)
    out(f"lockstep {name} in {dtype}: lr {lr}, batch {batch_size}; max relative difference over all state")
    history, step = [], 0
    module.train()
    while step < steps:
        for x, y in stream:
            x = x.astype(dtype)
            with autograd.record():
                lg = g_loss(block(nd.array(x, dtype=dtype)), nd.array(y, dtype=dtype)).sum()
            lg.backward()
            trainer.step(batch_size)
            optimizer.zero_grad()
            (t_loss(module(torch.from_numpy(x)), torch.from_numpy(y)) / batch_size).backward()
            optimizer.step()
            step += 1
            if step % every == 0 or step == steps:
                worst = max_state_diff(block, module, names)
                history.append((step, worst.max_rel, worst.name))
                out(f"step {step:5d}: max rel diff {worst.max_rel:.3e} ({worst.name})")
            if step >= steps:
                break
    return history
