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
* where the first differing layer already *receives* a different input while the layer before it
  agrees, the values parted in forward code between the two (a clamp written inside a block's
  ``forward``): the innermost module whose code ran there is named (:func:`_between`);
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
    #: a cause read from the layer's own values (a dense weight used transposed), for the diagnosis
    finding: str | None = None

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
    agreed = None  # the last aligned pair whose outputs agree
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
                lonely, agreed = [], (g, t)
            continue
        if lonely:
            lg, lt = lonely[0]
            where = both_names(lg, lt)
            name = lt.name if lt is not None else None
            return Divergence(name or t.name, lg.name if lg is not None else None,
                              f"layer {where}: runs in one tree only; the next common layer {names} differs "
                              f"(max rel diff {d.max_rel:.3e})")
        between = _between(agreed, g, t, rtol)
        if between is not None:
            return between
        return Divergence(t.name, g.name, f"layer {names} {t.out_shape}: max abs diff {d.max_abs:.3e}, "
                                          f"max rel diff {d.max_rel:.3e}")
    if torch_error:
        return Divergence(None, None, torch_error)
    return None


def _enclosing(before: str, after: str) -> str:
    """The innermost module whose own forward code runs between layer ``before`` and layer ``after``:
    ``before``'s innermost ancestor that does not hold ``after`` (code after its last layer), else the
    two layers' common ancestor (code between its calls); "" is the model itself."""
    ancestors = [before.rsplit(".", k)[0] for k in range(1, before.count(".") + 1)]
    for name in ancestors:
        if not (after == name or after.startswith(name + ".")):
            return name
    return next((name for name in ancestors if after.startswith(name + ".")), "")


def _between(agreed, g: Layer, t: Layer, rtol: float) -> Divergence | None:
    """The divergence in forward code between the last agreeing layers ``agreed`` and ``g``/``t``, whose
    inputs already differ (None when their inputs agree: the layer itself differs)."""
    if agreed is None or g.input is None or t.input is None or np.shape(g.input) != np.shape(t.input):
        return None
    d = diff("", t.input, g.input)
    if d.max_rel <= rtol:
        return None
    (pg, pt), names = agreed, both_names(g, t)
    tc, gc = _enclosing(pt.name, t.name), _enclosing(pg.name, g.name)
    where = f"layer {tc} (gluon {gc or 'the model'})" if tc else f"the model's own forward (gluon {gc or 'the model'})"
    return Divergence(tc or t.name, gc or g.name,
                      f"{where}: values part in its forward code between its layer {both_names(pg, pt)}, which "
                      f"agrees, and layer {names}, which already receives a different input (max rel diff "
                      f"{d.max_rel:.3e})")


def localise(pair, x, train: bool, rtol: float) -> Divergence | None:
    """Run ``x`` through both trees of ``pair`` (a :class:`~parity.verdict.pair.Pair`) and localise."""
    import torch
    from mxnet import nd

    from modern_cnns.parity.frameworks import gluon_ctx, torch_device

    g_layers = capture_gluon(pair.block, nd.array(x, ctx=gluon_ctx(pair.device), dtype=pair.dtype), train, True)
    t_layers, error = capture_torch(pair.module, torch.tensor(np.asarray(x), dtype=getattr(torch, pair.dtype),
                                                              device=torch_device(pair.device)), train, True)
    found = first_divergence(g_layers, t_layers, rtol, error)
    if found is not None and found.torch_layer is not None:
        layer = next((t for t in t_layers if t.name == found.torch_layer and t.kind == "dense"), None)
        if layer is not None and _uses_weight_transposed(pair.module.get_submodule(layer.name), layer, rtol):
            found.finding = (f"layer {layer.name}: its output is x @ W + b, the original's x @ W.T + b: the port uses "
                             "the dense weight transposed (a hand-written x @ W, or a name map or conversion that "
                             "transposed a square weight)")
    return found


def _uses_weight_transposed(module, layer: Layer, rtol: float) -> bool:
    """Does the dense ``layer`` (as run, input and output kept) compute ``x @ W + b`` with its square weight?"""
    weight = getattr(module, "weight", None)
    if weight is None or layer.input is None or layer.output is None or weight.ndim != 2 or \
            weight.shape[0] != weight.shape[1]:
        return False
    w = weight.detach().cpu().numpy()
    bias = getattr(module, "bias", None)
    x = np.asarray(layer.input).reshape(len(layer.input), -1)
    if x.shape[1] != w.shape[0]:
        return False
    out = x @ w + (0 if bias is None else bias.detach().cpu().numpy())
    return np.shape(layer.output) == out.shape and diff("", layer.output, out).max_rel <= rtol


def localise_subject(subject, dtype, x, train, probe=None, seed=None):
    """Rebuild ``subject``'s pair (deterministic: same weights) and find the first diverging layer: (text or
    None, a finding read from its values or None); under ``probe`` (:class:`parity.verdict.checks.Probe`), in
    prediction mode, where only a probe fails. ``seed`` defaults to ``policy.SEED``."""
    from modern_cnns.parity.verdict import policy, probes, tolerance
    from modern_cnns.parity.verdict.memory import reraise_if_memory

    seed = policy.SEED if seed is None else seed
    rtol = tolerance.FLOAT64_RTOL if dtype == "float64" else policy.LOCALISE_FLOAT32_RTOL
    try:
        pair = subject.make_pair(dtype)
        found = localise(pair, x, train, rtol) if probe is None else probes.localise(pair, x, probe, seed, rtol)
    except Exception as err:  # localisation is a diagnosis: never hide the verdict behind its failure
        reraise_if_memory(err)
        return f"(could not localise: {type(err).__name__}: {err})", None
    return (None, None) if found is None else (str(found), found.finding)


def localise_failures(subject, dtype, x, result, seed):
    """Set ``result.first_divergence`` where an output, a gradient or a probe fails (not only the state after
    training, nor only an extra input size); return the finding read from the diverging layer's values or
    None. It localises in the mode whose output differs most, where the signal is strongest, and under the
    failing probe where the train output passes."""
    from modern_cnns.parity.verdict import checks, probes

    failed = [r.check for r in result.rows if not r.passed]
    if not any(c.kind not in checks.STATE_KINDS and c.size is None for c in failed):
        return None
    rel = {r.check: r.max_rel for r in result.rows}
    train = not rel.get(checks.PREDICT, 0.0) > rel.get(checks.TRAIN, 0.0)
    probe = probes.failing(result.rows) if all(r.passed for r in result.rows if r.check == checks.TRAIN) else None
    result.first_divergence, finding = localise_subject(subject, dtype, x, train, probe, seed)
    return finding


def with_localised_finding(result, finding) -> None:
    """The finding localisation read from a layer's values (a dense weight used transposed), after the
    certain structural differences: declared differences stay first."""
    if finding:
        certain = sum(1 for d in result.structure if d["certain"] and not d["accepted"])
        result.diagnosis.insert(min(certain, len(result.diagnosis)), finding)
