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

from modern_cnns.parity.catalog import experiments, registry
from modern_cnns.parity.verdict.tolerance import scale_floor


def lockstep(name, dtype="float32", steps=200, every=20, batch_size=None, lr=None, seed=0, out=print):
    """Train experiment ``name``'s network in both frameworks on the same batches; print and return the drift.

    Returns ``[(step, max relative difference, the slot it is in)]`` every ``every`` steps.
    """
    from modern_cnns.data import BatchStream, load_fashion_mnist
    from modern_cnns.parity.verdict.pair import Pair
    from modern_cnns.parity.weights.state import gluon_slots

    exp = experiments.get(name)
    entry = registry.get(exp.network)
    batch_size, lr = batch_size or exp.batch_size, lr or exp.lr
    pair = Pair.from_entry(entry, dtype, seed=seed)
    trainers = pair.trainers(lr)
    ds = load_fashion_mnist()
    stream = BatchStream(ds.train_images, ds.train_labels, batch_size, shuffle=True, seed=seed, resize=exp.resize)
    out(f"lockstep {name} in {dtype}: lr {lr}, batch {batch_size}; max relative difference over all state")
    history, step = [], 0
    while step < steps:
        for x, y in stream:
            pair.step(trainers, x.astype(dtype), y, batch_size)
            step += 1
            if step % every == 0 or step == steps:
                floor = scale_floor(slot.read() for slot in gluon_slots(pair.block).values())
                worst = pair.worst_state_diff(floor)
                history.append((step, worst.max_rel, worst.name))
                out(f"step {step:5d}: max rel diff {worst.max_rel:.3e} ({worst.name})")
            if step >= steps:
                break
    return history
