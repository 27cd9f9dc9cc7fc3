"""A Gluon network and its torch port holding the same weights: the unit every check starts from.

A :class:`Pair` owns everything done to both trees at once, so that a check, a lockstep run or
a test does each thing in one place, the same way:

* building it (the Gluon original initialised once, seeded, its state moved to the port by name);
* zeroing dropout in both (its draws come from independent RNGs);
* stepping both frameworks the same way (gluonbook's summed loss and ``Trainer.step(batch_size)``;
  torch's :func:`~modern_cnns.torch_impl.train.loss_to_step` and
  :func:`~modern_cnns.torch_impl.train.sgd_like_gluon`);
* tracing what the checker compares (outputs, gradients, state), one framework at a time;
* reading and comparing state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modern_cnns.parity.frameworks import gluon_ctx, torch_device
from modern_cnns.parity.verdict import checks, outputs
from modern_cnns.parity.verdict.checks import Check
from modern_cnns.parity.verdict.compare import Diff, diff
from modern_cnns.parity.weights.init import initialize_gluon
from modern_cnns.parity.weights.state import gluon_params, gluon_slots, torch_slots, walk_gluon
from modern_cnns.parity.weights.transfer import gluon_to_torch

if TYPE_CHECKING:
    import torch

#: slot kinds that are running statistics (BatchNorm buffers, the scratch BN's moving averages)
STATISTICS = ("stat", "attr")


def build_gluon(entry, dtype: str = "float64", device: str = "cpu", seed: int = 0, gluon_params=None):
    """The Gluon original of a registry ``entry``, initialised (Xavier, MXNet seeded with ``seed``), then
    given the trained weights of the file ``gluon_params`` if any (:mod:`parity.verdict.supplied`).

    The same seed gives the same weights: the checker rebuilds the original this way to rerun it.
    """
    import mxnet as mx

    mx.random.seed(seed)
    block = initialize_gluon(entry.build_gluon(), entry.batch_shape(1), ctx=gluon_ctx(device), dtype=dtype)
    if gluon_params is not None:
        from modern_cnns.parity.verdict.supplied import load_gluon_params

        load_gluon_params(block, gluon_params, device)
    return block


def _unset_torch(entry, dtype: str, device: str):
    """The torch port of a registry ``entry`` in ``dtype`` on ``device``, its values left unset.

    Only for a strict transfer to fill: torch's own initialisation would be overwritten, and on
    VGG-11 it cost 3.3 s a float64 pair (built in float32 and converted: 3.2 s).  Built on the
    ``meta`` device (shapes only), then given memory (PyTorch's documented way to skip
    initialisation); tensors kept as plain attributes (the course's scratch BatchNorm keeps its
    moving statistics so) are given memory too, as the transfer writes them.  A port holding any
    other meta tensor is built the usual way.
    """
    import torch

    dev, tdtype = torch_device(device), getattr(torch, dtype)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(tdtype)
    try:
        with torch.device("meta"):
            module = entry.build_torch()
    finally:
        torch.set_default_dtype(previous)
    module.to_empty(device=dev)
    for mod in module.modules():
        for attr, value in list(vars(mod).items()):
            if isinstance(value, torch.Tensor) and value.is_meta and not attr.startswith("_"):
                setattr(mod, attr, torch.empty_like(value, device=dev))
    if any(isinstance(v, torch.Tensor) and v.is_meta for mod in module.modules() for v in vars(mod).values()):
        return entry.build_torch().to(device=dev, dtype=tdtype)
    return module.to(dtype=tdtype)


def zero_dropout_gluon(block) -> None:
    """Set every Gluon ``Dropout``'s rate to 0."""
    from mxnet.gluon import nn

    for _, blk in walk_gluon(block):
        if isinstance(blk, nn.Dropout):
            blk._rate = 0.0


def zero_dropout_torch(module) -> None:
    """Set every torch ``nn.Dropout``'s ``p`` to 0."""
    from torch import nn

    for mod in module.modules():
        if isinstance(mod, nn.Dropout):
            mod.p = 0.0


# --------------------------------------------------------------------------- one step, each framework
# gluonbook's step: the summed softmax cross-entropy, backward, ``trainer.step(batch_size)``; in
# torch, ``loss_to_step(summed, batch_size)`` backward and ``sgd_like_gluon``.  Trace and lockstep
# both step through these.
def gluon_trainer(block, lr: float):
    """gluonbook's ``gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr})``."""
    from mxnet import gluon

    return gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": lr})


def gluon_backward(block, X, y):
    """Forward ``X`` in ``record()``, backward the summed loss against labels ``y`` (NDArrays); the outputs.

    A model returning several tensors trains on the first, plus the sum of the others
    (:mod:`parity.verdict.outputs`).
    """
    from mxnet import autograd, gluon

    with autograd.record():
        logits = block(X)
        l = outputs.plus_the_rest(gluon.loss.SoftmaxCrossEntropyLoss()(outputs.first(logits), y).sum(), logits)
    l.backward()
    return logits


def torch_backward(module, X, y, batch_size: int):
    """Forward ``X``, backward the loss that makes torch's SGD take Gluon's step (tensors); the outputs."""
    import torch.nn.functional as F

    from modern_cnns.torch_impl.train import loss_to_step

    logits = module(X)
    loss = outputs.plus_the_rest(F.cross_entropy(outputs.first(logits), y, reduction="sum"), logits)
    loss_to_step(loss, batch_size).backward()
    return logits


def predict_gluon(block, x, dtype: str, device: str):
    """Gluon's prediction-mode output (outside ``record()``) for numpy ``x``."""
    from mxnet import nd

    return outputs.to_numpy(block(nd.array(x, ctx=gluon_ctx(device), dtype=dtype)), lambda t: t.asnumpy())


def predict_torch(module, x, dtype: str, device: str):
    """torch's prediction-mode output (``eval()``, no grad) for numpy ``x``."""
    import torch

    with torch.no_grad():
        out = module.eval()(torch.tensor(x, dtype=getattr(torch, dtype), device=torch_device(device)))
    return outputs.to_numpy(out, lambda t: t.cpu().numpy())


# The first training step doubles as the gradient probe: its outputs and gradients are
# recorded before the optimiser applies them.
def trace_gluon(block, batches, dtype: str, device: str, lr: float) -> dict:
    """Run ``batches`` through the Gluon ``block`` as training steps; return what the checker compares.

    Returns ``{Check: array}`` (:mod:`parity.verdict.checks`): ``predict output`` (the first batch, outside
    ``record()``), then from the first step ``train output``, ``input gradient`` and ``gradient of <param>``
    (of the summed loss), ``statistics after 1 step: <slot>``, and after the last step
    ``after K steps: <slot>`` for every slot.
    """
    import mxnet as mx
    from mxnet import nd

    ctx = gluon_ctx(device)
    trainer = gluon_trainer(block, lr)
    out = outputs.named(checks.PREDICT, predict_gluon(block, batches[0][0], dtype, device))
    for step, (x, y) in enumerate(batches):
        X = nd.array(x, ctx=ctx, dtype=dtype)
        X.attach_grad()
        logits = gluon_backward(block, X, nd.array(y, ctx=ctx, dtype=dtype))
        if step == 0:
            out.update(outputs.named(checks.TRAIN, outputs.to_numpy(logits, lambda t: t.asnumpy())))
            out[checks.INPUT_GRAD] = X.grad.asnumpy()
            for name, p in gluon_params(block).items():
                if p.grad_req != "null":
                    out[Check.gradient_of(name)] = p.grad(ctx).asnumpy()
        trainer.step(len(y))
        if step == 0:
            mx.nd.waitall()
            out.update({Check.statistics(name): slot.read()
                        for name, slot in gluon_slots(block).items() if slot.kind in STATISTICS})
    mx.nd.waitall()
    for name, slot in gluon_slots(block).items():
        out[Check.after(len(batches), name)] = slot.read()
    return out


def trace_torch(module, batches, dtype: str, device: str, lr: float, names: dict, statistics=None) -> dict:
    """:func:`trace_gluon` for the torch port; ``names`` maps Gluon names to torch names.

    Results are keyed by the same checks (Gluon names, each with its torch name), and gradients are those
    of the *summed* loss, as Gluon holds them.
    ``statistics``: the Gluon names whose values after 1 step are recorded (the Gluon side knows
    which slots are statistics); None records every slot.
    """
    import torch

    from modern_cnns.torch_impl.train import gluon_rescale, sgd_like_gluon

    dev, tdtype = torch_device(device), getattr(torch, dtype)
    out = outputs.named(checks.PREDICT, predict_torch(module, batches[0][0], dtype, device))
    module.train()
    opt = sgd_like_gluon(module.parameters(), lr)
    params = dict(module.named_parameters())
    for step, (x, y) in enumerate(batches):
        opt.zero_grad()
        X = torch.tensor(x, dtype=tdtype, device=dev, requires_grad=step == 0)
        n = len(y)
        logits = torch_backward(module, X, torch.tensor(y, device=dev), n)
        if step == 0:
            out.update(outputs.named(checks.TRAIN, outputs.to_numpy(logits, lambda t: t.detach().cpu().numpy())))
            assert X.grad is not None  # X requires grad, and the backward just ran
            scale = gluon_rescale(n)  # what loss_to_step multiplied the summed loss by
            out[checks.INPUT_GRAD] = X.grad.cpu().numpy() / scale
            for gname, tname in names.items():
                p = params.get(tname)
                if p is not None and p.requires_grad:
                    out[Check.gradient_of(gname, tname)] = p.grad.cpu().numpy() / scale
        opt.step()
        if step == 0:
            slots, _ = torch_slots(module)
            out.update({Check.statistics(gname, tname): slots[tname].read() for gname, tname in names.items()
                        if statistics is None or gname in statistics})
    slots, _ = torch_slots(module)
    for gname, tname in names.items():  # the module trains no further: no copies needed
        out[Check.after(len(batches), gname, tname)] = slots[tname].read(copy=False)
    return out


def _as_shape(value, like):
    """``value`` in ``like``'s shape where the transfer reshaped it (trailing singleton dimensions)."""
    if like is None or value.shape == like.shape or value.size != like.size:
        return value
    return value.reshape(like.shape)


@dataclass
class Pair:
    """A Gluon block and its torch port, same weights, on one device in one dtype.

    Attributes:
        block: the Gluon original.
        module: the torch port.
        names: ``{gluon slot name: torch slot name}``, as the transfer paired them.
        dtype: ``"float32"`` or ``"float64"``.
        device: ``"cpu"`` or ``"gpu"``.
    """

    block: Any  #: a Gluon block (MXNet ships no types)
    module: torch.nn.Module
    names: dict
    dtype: str = "float64"
    device: str = "cpu"

    @classmethod
    def from_entry(cls, entry, dtype: str = "float64", device: str = "cpu", seed: int = 0,
                   gluon_params=None) -> "Pair":
        """Build a registry ``entry``'s pair: Gluon initialised once (Xavier, seeded; or the weights of the file
        ``gluon_params``), its state moved to torch."""
        block = build_gluon(entry, dtype, device, seed, gluon_params)
        module = _unset_torch(entry, dtype, device)
        report = gluon_to_torch(block, module)  # strict: every parameter and statistic is written
        for name in report.ignored:  # what the transfer leaves alone starts as torch starts it
            module.get_buffer(name).zero_()
        return cls(block, module, {g: t for g, t, _ in report.mapped}, dtype, device)

    def zero_dropout(self) -> "Pair":
        """Dropout rate 0 in both trees: the frameworks draw its masks from independent RNGs."""
        zero_dropout_gluon(self.block)
        zero_dropout_torch(self.module)
        return self

    # ---------------------------------------------------------------- stepping
    def trainers(self, lr: float):
        """(Gluon ``Trainer``, torch optimiser) that take the same SGD step."""
        from modern_cnns.torch_impl.train import sgd_like_gluon

        return gluon_trainer(self.block, lr), sgd_like_gluon(self.module.parameters(), lr)

    def step(self, trainers, x, y, batch_size: int | None = None) -> None:
        """One training step of both frameworks on the same batch (numpy ``x``, ``y``)."""
        import torch
        from mxnet import nd

        trainer, optimizer = trainers
        batch_size = batch_size or len(y)
        ctx, dev = gluon_ctx(self.device), torch_device(self.device)
        gluon_backward(self.block, nd.array(x, ctx=ctx, dtype=self.dtype), nd.array(y, ctx=ctx, dtype=self.dtype))
        trainer.step(batch_size)
        self.module.train()
        optimizer.zero_grad()
        torch_backward(self.module, torch.tensor(x, dtype=getattr(torch, self.dtype), device=dev),
                       torch.tensor(y, device=dev), batch_size)
        optimizer.step()

    def trace(self, batches, lr: float) -> tuple[dict, dict]:
        """(Gluon's, torch's) :func:`trace_gluon` results on ``batches``, every tensor's check given its torch
        name; the pair is trained by them."""
        g = {check.paired(self.names): value
             for check, value in trace_gluon(self.block, batches, self.dtype, self.device, lr).items()}
        statistics = {check.tensor for check in g if check.kind == checks.STATISTICS}
        # only those: a copy of every weight after step 1 cost VGG-11 a gigabyte in float64
        t = trace_torch(self.module, batches, self.dtype, self.device, lr, self.names, statistics)
        return g, {check: _as_shape(value, g.get(check)) for check, value in t.items()}

    # ---------------------------------------------------------------- state
    def start_state(self) -> dict:
        """``{Check "before training: <name>": Diff | None}``: the port against the original, exactly, slot by slot.

        Compared here, one tensor at a time, rather than kept for the verdict: on VGG-11 a
        snapshot of every weight in both frameworks and dtypes costs gigabytes.  None where
        the port has no counterpart.
        """
        gslots, (tslots, _) = gluon_slots(self.block), torch_slots(self.module)
        out = {}
        for gname, slot in gslots.items():
            tname = self.names.get(gname)
            check = Check.before_training(gname, tname)
            expected = slot.read()
            out[check] = None if tname is None else \
                diff(str(check), _as_shape(tslots[tname].read(copy=False), expected), expected)
        return out

    def worst_state_diff(self, floor: float) -> Diff:
        """The slot with the largest relative difference between the two trees, scales floored at ``floor``."""
        g = {name: slot.read() for name, slot in gluon_slots(self.block).items()}
        t, _ = torch_slots(self.module)
        return max((diff(name, _as_shape(t[self.names[name]].read(), value), value, floor)
                    for name, value in g.items()), key=lambda d: d.max_rel)

    def structure(self):
        """Gluon's BatchNorm momentum per layer, which the statistics findings need (a
        :class:`~parity.verdict.diagnosis.Structure`); the declared layers of both trees are compared by
        :mod:`parity.verdict.structure`."""
        from mxnet.gluon import nn as gnn

        from modern_cnns.parity.verdict.diagnosis import Structure

        out = Structure()
        for name, blk in walk_gluon(self.block):
            if isinstance(blk, gnn.BatchNorm):
                out.gluon_momentum[name.rstrip(".")] = float(blk._kwargs.get("momentum", 0.9))
        return out


def randomize_gluon_state(block, seed: int = 0):
    """Give every slot (parameters, running and moving statistics) random values; return ``block``.

    Variances get positive values; everything else uniform in [-0.5, 0.5).  Fresh
    networks hold ones and zeros in their BatchNorm state, which would hide a
    statistic that is dropped or swapped in transfer.
    """
    rng = np.random.default_rng(seed)
    for name, slot in gluon_slots(block).items():
        if name.endswith("var"):
            value = rng.uniform(0.5, 1.5, size=slot.shape)
        else:
            value = rng.uniform(-0.5, 0.5, size=slot.shape)
        slot.write(value.astype(slot.dtype))
    return block
