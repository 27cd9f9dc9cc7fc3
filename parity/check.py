"""The parity checker: does the torch port compute what the Gluon original computes?

For one network, initialise the Gluon block once (Xavier, seeded), move its
state to the torch port by name, then run the same probe batch and the same K
training batches through both and compare, tensor by tensor:

* ``predict output``: Gluon outside ``autograd.record()``, torch in ``eval()``;
* ``train output``, ``input gradient`` and ``gradient of <param>`` for every
  parameter, of the summed softmax cross-entropy: Gluon inside ``record()``,
  torch in ``train()``;
* ``after K steps: <name>``: every parameter, running statistic and moving
  statistic after K SGD steps (Gluon's ``Trainer.step(batch_size)`` on the
  summed loss, torch's ``SGD`` on the mean loss: the same update).

Dropout draws from independent RNGs in the two frameworks, so for networks with
dropout the training checks run with the dropout rate set to 0 in both (the
prediction check is unaffected: dropout is off there anyway).

Verdicts follow :mod:`parity.tolerance`.  When an output or gradient fails, the
checker compares per-layer activations (forward hooks on both trees, paired by
structural name) and names the first layer whose output diverges.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np

from parity import tolerance
from parity.compare import diff
from parity.pairs import build_pair, configure_torch_for_parity, gluon_ctx, torch_device
from parity.state import gluon_slots, torch_slots

SEED = 0
LR = 0.05


@dataclass
class Row:
    check: str
    max_abs: float
    max_rel: float
    tolerance: str
    passed: bool


@dataclass
class Result:
    network: str
    device: str
    dtype: str
    steps: int
    rows: list = field(default_factory=list)
    first_divergence: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self):
        return self.error is None and all(r.passed for r in self.rows)

    def worst(self):
        failed = [r for r in self.rows if not r.passed]
        return max(failed or self.rows, key=lambda r: r.max_rel, default=None)

    def to_dict(self):
        return {**asdict(self), "passed": self.passed}


# --------------------------------------------------------------------------- inputs
def make_batches(entry, batch_size, steps, seed=SEED):
    """K training batches (the first is also the probe): images in [0, 1), labels 0..classes-1."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(size=entry.batch_shape(batch_size)), rng.integers(0, entry.num_classes, size=batch_size))
            for _ in range(steps)]


def _set_dropout_zero_gluon(block):
    from mxnet.gluon import nn

    from parity.state import walk_gluon

    for _, blk in walk_gluon(block):
        if isinstance(blk, nn.Dropout):
            blk._rate = 0.0


def _set_dropout_zero_torch(module):
    from torch import nn

    for mod in module.modules():
        if isinstance(mod, nn.Dropout):
            mod.p = 0.0


# --------------------------------------------------------------------------- one framework
# The first training step doubles as the gradient probe: its outputs and gradients
# are recorded before the optimiser applies them.
def run_gluon(block, batches, dtype, ctx, lr=LR):
    import mxnet as mx
    from mxnet import autograd, gluon, nd

    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": lr})
    out = {"predict output": block(nd.array(batches[0][0], ctx=ctx, dtype=dtype)).asnumpy()}
    for step, (x, y) in enumerate(batches):
        X = nd.array(x, ctx=ctx, dtype=dtype)
        X.attach_grad()
        with autograd.record():
            logits = block(X)
            l = loss(logits, nd.array(y, ctx=ctx, dtype=dtype)).sum()
        l.backward()
        if step == 0:
            out["train output"] = logits.asnumpy()
            out["input gradient"] = X.grad.asnumpy()
            for name, p in block._collect_params_with_prefix().items():
                if p.grad_req != "null":
                    out[f"gradient of {name}"] = p.grad(ctx).asnumpy()
        trainer.step(len(y))
    mx.nd.waitall()
    for name, slot in gluon_slots(block).items():
        out[f"after {len(batches)} steps: {name}"] = slot.read()
    return out


def run_torch(module, batches, dtype, device, names, lr=LR):
    """Same as :func:`run_gluon`; ``names`` maps Gluon names to torch names, results use Gluon names."""
    import torch
    import torch.nn.functional as F

    tdtype = getattr(torch, dtype)
    with torch.no_grad():
        out = {"predict output": module.eval()(torch.tensor(batches[0][0], dtype=tdtype, device=device)).cpu().numpy()}
    module.train()
    # Gluon keeps the learning rate as a float32: use the same value.
    opt = torch.optim.SGD(module.parameters(), lr=float(np.float32(lr)))
    params = dict(module.named_parameters())
    for step, (x, y) in enumerate(batches):
        opt.zero_grad()
        X = torch.tensor(x, dtype=tdtype, device=device, requires_grad=step == 0)
        logits = module(X)
        # mean loss + SGD == Gluon's summed loss + Trainer.step(batch_size)
        F.cross_entropy(logits, torch.tensor(y, device=device)).backward()
        if step == 0:
            n = len(y)  # report gradients of the *summed* loss, as Gluon holds them
            out["train output"] = logits.detach().cpu().numpy()
            out["input gradient"] = X.grad.cpu().numpy() * n
            for gname, tname in names.items():
                p = params.get(tname)
                if p is not None and p.requires_grad:
                    out[f"gradient of {gname}"] = p.grad.cpu().numpy() * n
        opt.step()
    slots, _ = torch_slots(module)
    for gname, tname in names.items():
        out[f"after {len(batches)} steps: {gname}"] = slots[tname].read()
    return out


# --------------------------------------------------------------------------- localisation
# Hooks must return None: a torch forward hook that returns a value replaces the output.
def _record_gluon(acts, name, block, inputs, output):
    acts.setdefault(name, output.asnumpy())


def _record_torch(acts, name, module, inputs, output):
    acts.setdefault(name, output.detach().cpu().numpy())


def _record_order(order, name, module, inputs):
    order.append(name)


def _capture_gluon(block, x, ctx, dtype, train):
    from mxnet import autograd, nd

    from parity.state import walk_gluon

    acts, handles = {}, []
    for name, blk in walk_gluon(block):
        if name:
            handles.append(blk.register_forward_hook(partial(_record_gluon, acts, name.rstrip("."))))
    try:
        X = nd.array(x, ctx=ctx, dtype=dtype)
        if train:
            with autograd.record():
                block(X)
        else:
            block(X)
    finally:
        for h in handles:
            h.detach()
    return acts


def _capture_torch(module, x, device, dtype, train):
    import torch

    acts, order, handles = {}, [], []
    for name, mod in module.named_modules():
        if name:
            handles.append(mod.register_forward_pre_hook(partial(_record_order, order, name)))
            handles.append(mod.register_forward_hook(partial(_record_torch, acts, name)))
    error = None
    try:
        with torch.no_grad():
            module.train(train)(torch.tensor(x, dtype=getattr(torch, dtype), device=device))
    except Exception as err:  # a broken port: report where it broke
        failing = [n for n in order if n not in acts]
        error = f"torch forward fails in layer {failing[-1] if failing else '?'}: {type(err).__name__}: {err}"
    finally:
        for h in handles:
            h.remove()
    return acts, error


def first_divergence(block, module, x, dtype, device, train, rtol):
    """Name the first layer (in Gluon's execution order) whose output differs beyond ``rtol``."""
    g = _capture_gluon(block, x, gluon_ctx(device), dtype, train)
    t, error = _capture_torch(module, x, torch_device(device), dtype, train)
    if error:
        return error
    for name, expected in g.items():
        if name not in t:
            continue
        if t[name].shape != expected.shape:
            return f"layer {name}: output shape torch {t[name].shape} vs gluon {expected.shape}"
        d = diff(name, t[name], expected)
        if d.max_rel > rtol:
            return f"layer {name}: {d}"
    return None


# --------------------------------------------------------------------------- one network
def _pair(entry, dtype, device, tamper):
    """The Gluon network and its torch twin, same weights, dropout off in both for training checks."""
    block, module, names = build_pair(entry, dtype, device, seed=SEED)
    if tamper is not None:
        tamper(module)
    if entry.dropout:
        _set_dropout_zero_gluon(block)
        _set_dropout_zero_torch(module)
    return block, module, names


def _run_pair(entry, dtype, device, batches, tamper=None):
    block, module, names = _pair(entry, dtype, device, tamper)
    g = run_gluon(block, batches, dtype, gluon_ctx(device))
    t = run_torch(module, batches, dtype, torch_device(device), names)
    return g, t


def _localise(entry, dtype, device, x, train, tamper):
    """Rebuild the pair (deterministic: same seed) and find the first diverging layer."""
    block, module, _ = _pair(entry, dtype, device, tamper)
    rtol = tolerance.FLOAT64_RTOL if dtype == "float64" else tolerance.FLOAT32_RTOL["predict output"]
    try:
        return first_divergence(block, module, x, dtype, device, train, rtol)
    except Exception as err:  # localisation is a diagnosis: never hide the verdict behind its failure
        return f"(could not localise: {type(err).__name__}: {err})"


def check_network(entry, device="cpu", dtypes=("float32", "float64"), steps=2, batch_size=None, tamper=None):
    """Run every check for ``entry``; return one :class:`Result` per requested dtype.

    float32 verdicts need the float64 run as reference, so float64 always runs
    when float32 is asked for.  ``tamper(module)``, if given, is applied to each
    torch model right after the transfer: the tests use it to break a port on purpose.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if device == "gpu":
        configure_torch_for_parity()
    batches = make_batches(entry, batch_size or entry.check_batch_size, steps)
    runs, results = {}, []
    for dtype in ("float64", "float32"):
        if dtype not in dtypes and not (dtype == "float64" and "float32" in dtypes):
            continue
        start = time.perf_counter()
        try:
            runs[dtype] = _run_pair(entry, dtype, device, batches, tamper)
        except Exception as err:
            runs[dtype] = None
            if dtype in dtypes:
                result = Result(entry.name, device, dtype, steps, error=f"{type(err).__name__}: {err}")
                result.first_divergence = _localise(entry, dtype, device, batches[0][0], False, tamper)
                result.seconds = time.perf_counter() - start
                results.append(result)
            continue
        if dtype in dtypes:
            result = _judge(entry, device, dtype, steps, runs)
            failed = [r.check for r in result.rows if not r.passed]
            if any(not c.startswith("after ") for c in failed):
                train = "predict output" not in failed
                result.first_divergence = _localise(entry, dtype, device, batches[0][0], train, tamper)
            result.seconds = time.perf_counter() - start
            results.append(result)
    return sorted(results, key=lambda r: list(dtypes).index(r.dtype))


def _judge(entry, device, dtype, steps, runs):
    g, t = runs[dtype]
    truth = runs.get("float64") if dtype == "float32" else None
    truth = truth[0] if truth is not None else None
    result = Result(entry.name, device, dtype, steps)
    floors = tolerance.group_floors(g)

    def err(check, value):  # distance from the float64 result
        return diff(check, value, truth[check], floors[tolerance.group_of(check)]).max_rel

    orig_worst = {}
    if truth is not None:
        for check in g:
            group = tolerance.group_of(check)
            orig_worst[group] = max(orig_worst.get(group, 0.0), err(check, g[check]))
    for check, expected in g.items():
        if check not in t:
            result.rows.append(Row(check, float("nan"), float("nan"), "present in both", False))
            continue
        d = diff(check, t[check], expected, floors[tolerance.group_of(check)])
        port_err = err(check, t[check]) if truth is not None else None
        orig_err = orig_worst.get(tolerance.group_of(check))
        passed, tol = tolerance.judge(check, dtype, d.max_rel, port_err, orig_err)
        result.rows.append(Row(check, d.max_abs, d.max_rel, tol, passed))
    return result
