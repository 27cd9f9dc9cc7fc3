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
#: slot kinds that are running statistics (BatchNorm buffers, the scratch BN's moving averages)
STATISTICS = ("stat", "attr")
#: first-divergence threshold in float32: per-layer forward noise reaches 1.3e-5 in ResNet-18
LOCALISE_FLOAT32_RTOL = 1e-4


@dataclass
class Row:
    check: str
    max_abs: float
    max_rel: float
    tolerance: str
    passed: bool
    basis: str = "none"  #: why it is trusted: a ground of :func:`parity.tolerance.judge`, or "none"


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
        if step == 0:
            mx.nd.waitall()
            out.update({f"statistics after 1 step: {name}": slot.read()
                        for name, slot in gluon_slots(block).items() if slot.kind in STATISTICS})
    mx.nd.waitall()
    for name, slot in gluon_slots(block).items():
        out[f"after {len(batches)} steps: {name}"] = slot.read()
    return out


def run_torch(module, batches, dtype, device, names, lr=LR):
    """Same as :func:`run_gluon`; ``names`` maps Gluon names to torch names, results use Gluon names."""
    import torch
    import torch.nn.functional as F

    tdtype = getattr(torch, dtype)
    out = {}
    with torch.no_grad():
        out["predict output"] = module.eval()(torch.tensor(batches[0][0], dtype=tdtype, device=device)).cpu().numpy()
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
        if step == 0:
            slots, _ = torch_slots(module)
            # every slot: the Gluon side decides which are statistics (only its checks are judged)
            out.update({f"statistics after 1 step: {gname}": slots[tname].read() for gname, tname in names.items()})
    slots, _ = torch_slots(module)
    for gname, tname in names.items():  # the module trains no further: no copies needed
        out[f"after {len(batches)} steps: {gname}"] = slots[tname].read(copy=False)
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
def _pair(entry, dtype, device, tamper, seed):
    """The Gluon network and its torch twin, same weights, dropout off in both for training checks."""
    block, module, names = build_pair(entry, dtype, device, seed=seed)
    if tamper is not None:
        tamper(module)
    if entry.dropout:
        _set_dropout_zero_gluon(block)
        _set_dropout_zero_torch(module)
    return block, module, names


def start_state(block, module, names) -> dict:
    """``{"before training: <name>": Diff}``: the port against the original, exactly, slot by slot.

    Compared here, one tensor at a time, rather than kept for the verdict: on VGG-11 a
    snapshot of every weight in both frameworks and dtypes costs gigabytes.
    """
    gslots, (tslots, _) = gluon_slots(block), torch_slots(module)
    out = {}
    for gname, slot in gslots.items():
        check = f"before training: {gname}"
        tname = names.get(gname)
        out[check] = None if tname is None else diff(check, tslots[tname].read(copy=False), slot.read())
    return out


def _run_pair(entry, dtype, device, batches, tamper, seed):
    """(original's results, port's results, start-state diffs) for one dtype."""
    block, module, names = _pair(entry, dtype, device, tamper, seed)
    before = start_state(block, module, names)
    g = run_gluon(block, batches, dtype, gluon_ctx(device))
    t = run_torch(module, batches, dtype, torch_device(device), names)
    return g, t, before


def nudge_rng(seed):
    """The generator of the nudges for a check seeded with ``seed`` (apart from the batches' own)."""
    return np.random.default_rng(seed + 7919)


def nudge(x, dtype, rng):
    """``x`` in ``dtype``, every element moved by one ulp up or down at random."""
    x = np.asarray(x).astype(dtype)
    return np.nextafter(x, np.where(rng.random(x.shape) < 0.5, -np.inf, np.inf).astype(dtype))


def sensitivity(entry, dtype, device, batches, reference, seed, nudges=tolerance.NUDGES_PER_ROUND, rng=None):
    """The original's own relative change, per check, when every input value moves by one ulp.

    Reruns the Gluon original ``nudges`` times on nudged copies of ``batches`` (same
    weights: the build is seeded) and returns ``{check: worst relative change}``
    against ``reference`` (its unnudged run), scales floored as in :mod:`parity.tolerance`.
    Pass the same ``rng`` to draw further nudges in later rounds.
    """
    from parity.pairs import build_gluon

    rng = rng if rng is not None else nudge_rng(seed)
    floors = tolerance.group_floors(reference)
    worst = {}
    for _ in range(nudges):
        block = build_gluon(entry, dtype, device, seed=seed)
        if entry.dropout:
            _set_dropout_zero_gluon(block)
        run = run_gluon(block, [(nudge(x, dtype, rng), y) for x, y in batches], dtype, gluon_ctx(device))
        for check, value in run.items():
            change = diff(check, value, reference[check], tolerance.floor_for(floors, check)).max_rel
            worst[check] = max(worst.get(check, 0.0), change)
    return worst


def _localise(entry, dtype, device, x, train, tamper, seed):
    """Rebuild the pair (deterministic: same seed) and find the first diverging layer."""
    block, module, _ = _pair(entry, dtype, device, tamper, seed)
    # float32: 1e-4, above the forward noise of a deep network, below what a real break leaves
    rtol = tolerance.FLOAT64_RTOL if dtype == "float64" else LOCALISE_FLOAT32_RTOL
    try:
        return first_divergence(block, module, x, dtype, device, train, rtol)
    except Exception as err:  # localisation is a diagnosis: never hide the verdict behind its failure
        return f"(could not localise: {type(err).__name__}: {err})"


def check_network(entry, device="cpu", dtypes=("float32", "float64"), steps=2, batch_size=None, tamper=None,
                  seed=SEED):
    """Run every check for ``entry``; return one :class:`Result` per requested dtype.

    float32 verdicts need the float64 run as reference, so float64 always runs
    when float32 is asked for.  ``tamper(module)``, if given, is applied to each
    torch model right after the transfer: the tests use it to break a port on purpose.
    ``seed`` draws the weights (MXNet's Xavier) and the batches.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    from parity.frameworks import ensure_threads

    ensure_threads()
    if device == "gpu":
        configure_torch_for_parity()
    batches = make_batches(entry, batch_size or entry.check_batch_size, steps, seed=seed)
    runs, judged, results = {}, {}, []
    for dtype in ("float64", "float32"):
        if dtype not in dtypes and not (dtype == "float64" and "float32" in dtypes):
            continue
        start = time.perf_counter()
        try:
            runs[dtype] = _run_pair(entry, dtype, device, batches, tamper, seed)
        except Exception as err:
            runs[dtype] = None
            if dtype in dtypes:
                result = Result(entry.name, device, dtype, steps, error=f"{type(err).__name__}: {err}")
                result.first_divergence = _localise(entry, dtype, device, batches[0][0], False, tamper, seed)
                result.seconds = time.perf_counter() - start
                results.append(result)
            continue
        # float64 is judged even when only float32 was asked for: float32 rows may defer to it
        rng = nudge_rng(seed)
        result = judged[dtype] = _judge(entry, device, dtype, steps, runs,
                                        partial(sensitivity, entry, dtype, device, batches, runs[dtype][0], seed,
                                                rng=rng),
                                        float64=judged.get("float64"))
        runs[dtype] = (runs[dtype][0], None, None)  # float32 needs only the original's float64 run
        if dtype in dtypes:
            failed = [r.check for r in result.rows if not r.passed]
            if any(tolerance.kind_of(c) not in ("after steps", "statistics after 1 step", "before training")
                   for c in failed):
                train = "predict output" not in failed
                result.first_divergence = _localise(entry, dtype, device, batches[0][0], train, tamper, seed)
            result.seconds = time.perf_counter() - start
            results.append(result)
    return sorted(results, key=lambda r: list(dtypes).index(r.dtype))


def _scoped_worst(values: dict) -> dict:
    """``{check: value}`` -> ``{group: worst}``, groups as :func:`tolerance.group_of` scopes them."""
    worst = {}
    for check, value in values.items():
        group = tolerance.group_of(check)
        worst[group] = max(worst.get(group, 0.0), value)
    return worst


def _judge(entry, device, dtype, steps, runs, measure_sensitivity, float64=None):
    """One :class:`Row` per check of the original; sensitivity is measured only if a row needs it.

    ``measure_sensitivity()`` returns the original's change under a further round of nudges.

    ``float64``: the float64 :class:`Result` of the same pair, which float32 rows that float32
    cannot resolve defer to.
    """
    g, t, before = runs[dtype]
    truth = runs.get("float64") if dtype == "float32" else None
    truth = truth[0] if truth is not None else None
    result = Result(entry.name, device, dtype, steps)
    floors = tolerance.group_floors(g)

    def floor(check):
        return tolerance.floor_for(floors, check)

    def err(check, value):  # distance from the float64 result
        return diff(check, value, truth[check], floor(check)).max_rel

    orig_worst = _scoped_worst({c: err(c, g[c]) for c in g}) if truth is not None else {}
    diffs = {check: d for check, d in before.items() if d is not None}
    port_errs = dict.fromkeys(diffs)
    for check, expected in g.items():
        if check in t:
            diffs[check] = diff(check, t[check], expected, floor(check))
            port_errs[check] = err(check, t[check]) if truth is not None else None

    passed64 = {row.check: row.passed for row in float64.rows} if float64 is not None else {}

    def verdicts(sens):
        out = {}
        for check, d in diffs.items():
            group = tolerance.group_of(check)
            out[check] = tolerance.judge(check, dtype, d.max_rel, port_errs[check], orig_worst.get(group),
                                         None if sens is None else sens.get(group, 0.0), passed64.get(check))
        return out

    judged, sens, nudged = verdicts(None), {}, 0
    while nudged < tolerance.MAX_NUDGES:
        failing = [c for c, v in judged.items()
                   if not v.passed and v.basis == "none" and tolerance.kind_of(c) != "before training"]
        if not failing or (nudged and any(tolerance.rule_for(c).per_tensor for c in failing)):
            break  # all explained, or a forward row fails: tie flips cannot explain it
        for check, change in measure_sensitivity().items():
            sens[check] = max(sens.get(check, 0.0), change)
        nudged += tolerance.NUDGES_PER_ROUND
        judged = verdicts(_scoped_worst(sens))
    for check in [*before, *g]:
        if check not in diffs:
            result.rows.append(Row(check, float("nan"), float("nan"), "present in both", False))
            continue
        d, v = diffs[check], judged[check]
        result.rows.append(Row(check, d.max_abs, d.max_rel, v.text, v.passed, v.basis))
    return result
