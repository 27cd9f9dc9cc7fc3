"""Where the two forward passes part: the first layer whose output differs, in shape or in value.

Both trees run the same input with hooks on their layers (:mod:`parity.verdict.structure`), the
two sequences are aligned by kind, and the aligned layers are walked in execution order:

* the first aligned layer whose **output shape** differs is the divergence, named with both
  shapes (a ceil_mode, a padding, a stride moved to another conv): nothing is ever compared
  across different shapes;
* otherwise the first aligned layer whose **output values** differ beyond ``rtol``;
* a layer that one tree alone runs (an extra ReLU, a channel shuffle, a dropped activation) sits
  between the last agreeing layer and the first differing one: it is named instead, as the
  likelier cause; elsewhere it is folded into the layers around it and never named;
* where the torch forward raises, the first shape difference before it, else the raising layer.

Both names are always given, torch first, Gluon in parentheses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modern_cnns.parity.verdict.compare import diff
from modern_cnns.parity.verdict.structure import Layer, align, both_names, capture_gluon, capture_torch

#: kinds whose absence from one tree changes values (a flatten or a dropout at rate 0 does not)
_COMPUTING = ("conv", "dense", "batchnorm", "pool", "activation", "other")


@dataclass
class Divergence:
    """The first layer where the trees part, and how."""

    torch_layer: str | None
    gluon_layer: str | None
    text: str

    def __str__(self):
        return self.text


def _differs(g: Layer, t: Layer, rtol: float):
    if g.output is None or t.output is None:
        return None
    d = diff("", t.output, g.output)
    return d if d.max_rel > rtol else None


def first_divergence(g_layers, t_layers, rtol: float, torch_error: str | None = None) -> Divergence | None:
    """The first divergence between captured layer sequences (see the module docstring), or None."""
    pairs = align(g_layers, t_layers)
    lonely = []  # one-tree layers since the last agreeing pair
    for g, t in pairs:
        if g is None or t is None:
            alone = g or t
            assert alone is not None, "align pairs a layer with its counterpart or with None, never None with None"
            if alone.kind in _COMPUTING:
                lonely.append((g, t))
            continue
        names = both_names(g, t)
        if g.out_shape != t.out_shape:
            return Divergence(t.name, g.name, f"layer {names}: output shape torch {t.out_shape}, gluon {g.out_shape}"
                              + (f" (input torch {t.in_shape}, gluon {g.in_shape})" if g.in_shape != t.in_shape
                                 else ""))
        d = _differs(g, t, rtol)
        if d is None:
            if g.output is not None and t.output is not None:
                lonely = []
            continue
        if lonely:
            lg, lt = lonely[0]
            where = both_names(lg, lt)
            name = lt.name if lt is not None else None
            return Divergence(name or t.name, lg.name if lg is not None else None,
                              f"layer {where}: runs in one tree only; the next common layer {names} differs "
                              f"(max rel diff {d.max_rel:.3e})")
        return Divergence(t.name, g.name, f"layer {names} {t.out_shape}: max abs diff {d.max_abs:.3e}, "
                                          f"max rel diff {d.max_rel:.3e}")
    if torch_error:
        return Divergence(None, None, torch_error)
    return None


def localise(pair, x, train: bool, rtol: float) -> Divergence | None:
    """Run ``x`` through both trees of ``pair`` (a :class:`~parity.verdict.pair.Pair`) and localise."""
    import torch
    from mxnet import nd

    from modern_cnns.parity.frameworks import gluon_ctx, torch_device

    g_layers = capture_gluon(pair.block, nd.array(x, ctx=gluon_ctx(pair.device), dtype=pair.dtype), train, True)
    t_layers, error = capture_torch(pair.module, torch.tensor(np.asarray(x), dtype=getattr(torch, pair.dtype),
                                                              device=torch_device(pair.device)), train, True)
    return first_divergence(g_layers, t_layers, rtol, error)
