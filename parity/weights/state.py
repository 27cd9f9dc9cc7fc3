"""Every piece of state a model holds, in either framework, as named slots.

A *slot* is one tensor: a parameter, a BatchNorm running statistic, or a plain
tensor attribute such as the course's scratch BatchNorm ``moving_mean`` /
``moving_var``, which neither ``save_parameters`` nor ``state_dict()`` sees.
Names are structural (``0.weight``, ``3.bn1.gamma``, ``1.moving_var``): the keys
Gluon's ``save_parameters`` and torch's ``state_dict`` use, extended to the plain
attributes.  Slots are listed module by module in registration order, which is
what positional matching relies on.

Writing keeps the destination's dtype and device/context, except for plain
attributes: ``.to(dtype)`` / ``.cast()`` never reach them (a course quirk), so
their dtype says nothing about the model, and they take the source's dtype
rather than silently losing float64 precision.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

#: torch entries with no Gluon counterpart; never transferred, always reported.
TORCH_IGNORED_SUFFIXES = ("num_batches_tracked",)


class StateError(ValueError):
    """A model cannot be read or written yet (e.g. shapes not known); says how to fix it."""


@dataclass
class Slot:
    """One tensor of a model's state (parameter, running statistic or plain attribute), readable and writable."""
    name: str
    shape: tuple
    dtype: str
    kind: str                       # "param", "stat" (buffer / running stat) or "attr" (plain attribute)
    read: Callable[..., np.ndarray]   #: ``read(copy=True)``; ``copy=False`` may share memory with the model
    write: Callable[[np.ndarray], None]


def _example_array(example_input):
    """``example_input`` is a shape (zeros of it) or an array."""
    return np.zeros(example_input) if isinstance(example_input, tuple) else np.asarray(example_input)


# --------------------------------------------------------------------------- Gluon
def walk_gluon(block, prefix=""):
    """(structural prefix, block) for a Gluon block and all its descendants, parents first."""
    yield prefix, block
    for name, child in block._children.items():
        yield from walk_gluon(child, f"{prefix}{name}.")


def gluon_uninitialized(block):
    """(never initialised, deferred) parameter names: the two ways a Gluon block lacks data."""
    never, deferred = [], []
    for name, p in block._collect_params_with_prefix().items():
        if p._data is None:
            (deferred if p._deferred_init else never).append(name)
    return never, deferred


def finish_gluon_shapes(block, example_input=None):
    """Make every Gluon parameter concrete, running ``example_input`` through it if shapes are deferred."""
    import mxnet as mx

    never, deferred = gluon_uninitialized(block)
    if never:
        raise StateError(f"Gluon block is not initialised ({len(never)} parameters, e.g. {never[0]}): "
                         "call block.initialize() first")
    if deferred:
        if example_input is None:
            raise StateError(f"Gluon block has deferred shapes ({len(deferred)} parameters, e.g. {deferred[0]}): "
                             "run one forward pass, or pass example_input= (an array or a shape)")
        ctx = next(iter(block.collect_params().values())).list_ctx()[0]
        x = _example_array(example_input)
        block(mx.nd.array(x, ctx=ctx, dtype=_gluon_dtype(block)))  # outside record(): prediction mode, no updates
    mx.nd.waitall()  # oneDNN may still be reordering weights after the shape-inferring forward


def _gluon_dtype(block):
    return next(iter(block.collect_params().values())).dtype


def _gluon_param_slot(name, p, kind):
    import mxnet as mx

    def read(copy=True):  # asnumpy() always copies
        return p.list_data()[0].asnumpy()

    def write(value):
        p.set_data(mx.nd.array(value, ctx=p.list_ctx()[0], dtype=p.dtype))

    return Slot(name, tuple(p.shape), np.dtype(p.dtype).name, kind, read, write)


def _gluon_attr_slot(name, block, attr):
    import mxnet as mx

    def read(copy=True):  # asnumpy() always copies
        return getattr(block, attr).asnumpy()

    def write(value):
        old = getattr(block, attr)
        setattr(block, attr, mx.nd.array(value, ctx=old.context, dtype=value.dtype))

    value = getattr(block, attr)
    return Slot(name, tuple(value.shape), np.dtype(value.dtype).name, "attr", read, write)


def gluon_params(block) -> dict:
    """``{structural name: Parameter}``, each Parameter once (under its first name) though registered twice."""
    out, seen = {}, set()
    for name, p in block._collect_params_with_prefix().items():
        if id(p) not in seen:
            seen.add(id(p))
            out[name] = p
    return out


def gluon_slots(block, example_input=None):
    """Ordered ``{name: Slot}`` of a Gluon block (materialised first)."""
    from mxnet import nd

    finish_gluon_shapes(block, example_input)
    slots = {}
    for name, blk, attr, p in _gluon_entries(block):
        if p is None:
            slots[name] = _gluon_attr_slot(name, blk, attr)
        else:
            kind = "stat" if p.grad_req == "null" and attr.startswith("running_") else "param"
            slots[name] = _gluon_param_slot(name, p, kind)
    nd.waitall()
    return slots


def _gluon_entries(block):
    """``(name, block, attr, Parameter or None)`` of every tensor :func:`gluon_slots` holds, in its order."""
    from mxnet import nd

    seen = set()
    for prefix, blk in walk_gluon(block):
        for attr, p in blk._reg_params.items():
            if id(p) in seen:  # one Parameter registered under two names (an alias): counted once
                continue
            seen.add(id(p))
            yield prefix + attr, blk, attr, p
        for attr, value in vars(blk).items():
            if isinstance(value, nd.NDArray) and not attr.startswith("_"):
                yield prefix + attr, blk, attr, None


def gluon_names(block) -> list:
    """The names :func:`gluon_slots` gives, read without initialising, running or copying anything."""
    return [name for name, *_ in _gluon_entries(block)]


# --------------------------------------------------------------------------- PyTorch
def finish_torch_shapes(module, example_input=None):
    """Materialise Lazy modules by one forward pass (eval mode, no grad: no statistic moves)."""
    import torch
    from torch.nn.parameter import is_lazy

    lazy = [n for n, p in list(module.named_parameters()) + list(module.named_buffers()) if is_lazy(p)]
    if not lazy:
        return
    if example_input is None:
        raise StateError(f"torch module has Lazy, un-materialised tensors ({len(lazy)}, e.g. {lazy[0]}): "
                         "run one forward pass, or pass example_input= (an array or a shape)")
    x = _example_array(example_input)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(torch.as_tensor(x, dtype=torch.get_default_dtype()))
    finally:
        module.train(was_training)


def _torch_slot(name, owner, attr, kind):
    import torch

    def read(copy=True):  # a copy by default: on CPU .numpy() shares memory, and training would rewrite it
        value = getattr(owner, attr).detach().cpu().numpy()
        return value.copy() if copy else value

    def write(value):
        old = getattr(owner, attr)
        if kind == "attr":
            setattr(owner, attr, torch.as_tensor(value).to(device=old.device))
        else:
            with torch.no_grad():
                old.copy_(torch.as_tensor(value))

    tensor = getattr(owner, attr)
    return Slot(name, tuple(tensor.shape), str(tensor.dtype).replace("torch.", ""), kind, read, write)


def torch_slots(module, example_input=None):
    """Ordered ``{name: Slot}`` of a torch module, and the names ignored (``num_batches_tracked``)."""
    finish_torch_shapes(module, example_input)
    slots, ignored = {}, []
    for name, mod, attr, kind in _torch_entries(module):
        if kind == "ignored":
            ignored.append(name)
        else:
            slots[name] = _torch_slot(name, mod, attr, kind)
    return slots, ignored


def _torch_entries(module):
    """``(name, module, attr, kind)`` of every tensor :func:`torch_slots` holds or ignores, in its order."""
    import torch

    seen = set()
    for prefix, mod in module.named_modules():
        prefix = f"{prefix}." if prefix else ""
        for attr, p in mod._parameters.items():
            if p is not None and id(p) not in seen:  # a shared Parameter: counted once
                seen.add(id(p))
                yield prefix + attr, mod, attr, "param"
        for attr, b in mod._buffers.items():
            if b is not None:
                yield prefix + attr, mod, attr, "ignored" if attr.endswith(TORCH_IGNORED_SUFFIXES) else "stat"
        for attr, value in vars(mod).items():
            if isinstance(value, torch.Tensor) and not attr.startswith("_"):
                yield prefix + attr, mod, attr, "attr"


def torch_names(module) -> list:
    """The names :func:`torch_slots` gives (ignored ones left out), read without running or copying anything."""
    return [name for name, _, _, kind in _torch_entries(module) if kind != "ignored"]
