"""What each tree declares, layer by layer in execution order, and where the two differ.

Values cannot show everything: dropout runs off, a BatchNorm momentum shows only in the
statistics, a clipping activation only where an input exceeds its bound, a fixed-size pooling
only at another input size.  So both trees run one forward pass with hooks on their layers,
each layer is described in framework-neutral terms (:class:`Layer`: its kind, its declared
attributes, its input and output shapes), the two sequences are aligned by kind
(:func:`align`), and every attribute that differs between aligned layers is a structural
difference (:func:`differences`), grouped into one line per kind of attribute.

A layer is a leaf of its tree (a module with no children) or a known activation block (Gluon's
``HardSwish`` holds a ``ReLU6``: it is one activation).  A layer that one tree runs and the other
does not (a ReLU applied functionally inside a torchvision block) has no partner: it is folded into
the aligned layers around it, never compared, and reported only as a missing or extra layer when
both neighbours align and its kind is a computing one.
"""
from __future__ import annotations

import difflib
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np


@dataclass
class Layer:
    """One layer as run: its name in its tree, kind, declared attributes, shapes, output (optional)."""

    name: str
    kind: str                  #: conv, dense, batchnorm, pool, activation, dropout, flatten, identity, "other"
    attrs: dict = field(default_factory=dict)
    in_shape: tuple = ()
    out_shape: tuple = ()
    output: np.ndarray | None = None  #: the output values, when captured for localisation
    cls: str = ""              #: the class name, for reports
    input: np.ndarray | None = None   #: the (first) input's values, when captured for localisation

    @property
    def key(self):
        """What alignment matches on: the kind (an unknown layer: its class)."""
        return self.kind if self.kind != "other" else f"other:{self.cls}"


# --------------------------------------------------------------------------- describing layers
_GLUON_ACTIVATIONS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "softrelu": "softplus",
                      "softsign": "softsign"}
#: activation blocks known by class name (gluoncv, gluoncv2, torch): class (lower case) -> type
_ACTIVATION_CLASSES = {
    "relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "hardsigmoid": "hard sigmoid", "hsigmoid": "hard sigmoid",
    "hardswish": "hard swish", "hswish": "hard swish", "swish": "swish", "silu": "swish", "tanh": "tanh",
    "elu": "elu", "selu": "selu", "softplus": "softplus", "mish": "mish", "prelu": "prelu",
}
#: layers that compute nothing a port can get wrong by omission
_PASSIVE = ("flatten", "dropout")


def _gluon_activation(act):
    if act is None:
        return []
    return [("activation", {"type": _GLUON_ACTIVATIONS.get(act._act_type, act._act_type)})]


def describe_gluon(blk) -> list:
    """``[(kind, attrs)]`` for one Gluon layer (a conv with ``activation=`` is two)."""
    from mxnet.gluon import nn

    cls = type(blk).__name__
    if isinstance(blk, nn.Conv2D) or cls in ("Conv2D", "Conv1D", "Conv3D"):
        k = blk._kwargs
        return [("conv", {"kernel": tuple(k["kernel"]), "stride": tuple(k["stride"]), "padding": tuple(k["pad"]),
                          "dilation": tuple(k["dilate"]), "groups": int(k["num_group"]),
                          "bias": not k["no_bias"]})] + _gluon_activation(getattr(blk, "act", None))
    if isinstance(blk, nn.Dense):
        return [("dense", {"bias": blk.bias is not None})] + _gluon_activation(blk.act)
    if isinstance(blk, nn.BatchNorm):
        k = blk._kwargs
        return [("batchnorm", {"eps": float(k["eps"]), "momentum": float(np.float32(k["momentum"])),
                               "affine": "no gamma" if k["fix_gamma"] else "yes"})]
    if cls.endswith(("Pool1D", "Pool2D", "Pool3D")):
        k = blk._kwargs
        if k["global_pool"]:
            return [("pool", {"type": k["pool_type"], "global": True})]
        attrs = {"type": k["pool_type"], "global": False, "kernel": tuple(k["kernel"]), "stride": tuple(k["stride"]),
                 "padding": tuple(k["pad"]), "ceil_mode": _rounds_up(k["stride"], k["pooling_convention"] == "full")}
        if k["pool_type"] == "avg":
            attrs["count_include_pad"] = bool(k.get("count_include_pad", True))
        return [("pool", attrs)]
    if isinstance(blk, nn.Activation):
        return _gluon_activation(blk)
    if isinstance(blk, nn.LeakyReLU):
        return [("activation", {"type": "leaky relu", "slope": float(blk._alpha)})]
    if cls == "GELU":
        return [("activation", {"type": "gelu"})]
    if isinstance(blk, nn.Dropout):
        return [("dropout", {"rate": float(blk._rate)})]
    if isinstance(blk, nn.Flatten):
        return [("flatten", {})]
    if cls.lower() in _ACTIVATION_CLASSES:
        return [("activation", {"type": _ACTIVATION_CLASSES[cls.lower()]})]
    return [("other", {})]


def _rounds_up(stride, ceil_mode: bool) -> bool:
    """A pool's ceil_mode as it can matter: with every stride 1 the output size is a whole number
    either way, so rounding up or down is the same layer (torchvision's Inception branches round
    up, gluoncv's down: no difference to report)."""
    return bool(ceil_mode) and any(int(s) > 1 for s in stride)


def describe_torch(mod) -> list:
    """``[(kind, attrs)]`` for one torch layer, attributes in Gluon's conventions."""
    from torch import nn

    cls = type(mod).__name__
    act = getattr(mod, "activation", None) if isinstance(getattr(mod, "activation", None), str) else None
    act = [("activation", {"type": act})] if act else []
    if isinstance(mod, nn.modules.conv._ConvNd):
        return [("conv", {"kernel": tuple(mod.kernel_size), "stride": tuple(mod.stride),
                          "padding": tuple(mod.padding) if not isinstance(mod.padding, str) else mod.padding,
                          "dilation": tuple(mod.dilation), "groups": int(mod.groups),
                          "bias": mod.bias is not None})] + act
    if isinstance(mod, nn.Linear):
        return [("dense", {"bias": mod.bias is not None})] + act
    if hasattr(mod, "running_var") and hasattr(mod, "epsilon") and hasattr(mod, "scale"):  # Gluon-exact BatchNorm
        return [("batchnorm", {"eps": float(mod.epsilon), "momentum": float(np.float32(mod.momentum)),
                               "affine": "yes" if mod.scale else "no gamma"})]
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):  # torch's momentum weights the new value
        momentum = 0.9 if mod.momentum is None else 1.0 - float(mod.momentum)
        return [("batchnorm", {"eps": float(mod.eps), "momentum": float(np.float32(momentum)),
                               "affine": "yes" if mod.affine else "no"})]
    if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool1d, nn.AvgPool1d)):
        pair = (lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)) if "2d" in cls else \
            (lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,))
        attrs = {"type": "max" if "Max" in cls else "avg", "global": False, "kernel": pair(mod.kernel_size),
                 "stride": pair(mod.stride or mod.kernel_size), "padding": pair(mod.padding),
                 "ceil_mode": _rounds_up(pair(mod.stride or mod.kernel_size), bool(mod.ceil_mode))}
        if "Max" in cls and pair(mod.dilation) != (1,) * len(pair(mod.dilation)):
            attrs["dilation"] = pair(mod.dilation)
        if "Avg" in cls:
            attrs["count_include_pad"] = bool(mod.count_include_pad)
        return [("pool", attrs)]
    if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)):
        size = mod.output_size if isinstance(mod.output_size, (tuple, list)) else (mod.output_size,)
        kind = "max" if "Max" in cls else "avg"
        if all(s == 1 for s in size):
            return [("pool", {"type": kind, "global": True})]
        return [("pool", {"type": kind, "global": False, "adaptive": tuple(size)})]
    if isinstance(mod, nn.LeakyReLU):
        return [("activation", {"type": "leaky relu", "slope": float(mod.negative_slope)})]
    if isinstance(mod, nn.GELU):
        return [("activation", {"type": "gelu" if mod.approximate == "none" else f"gelu ({mod.approximate})"})]
    if isinstance(mod, nn.modules.dropout._DropoutNd):
        return [("dropout", {"rate": float(mod.p)})]
    if isinstance(mod, nn.Flatten):
        return [("flatten", {})]
    if isinstance(mod, nn.Identity):  # a placeholder: where the original has a layer, a missing one
        return [("identity", {})]
    if cls.lower() in _ACTIVATION_CLASSES:
        return [("activation", {"type": _ACTIVATION_CLASSES[cls.lower()]})]
    return [("other", {})]


def _is_unit(obj, children) -> bool:
    """A layer of its own: a leaf, a known activation block (whose inner blocks are its parts), or a
    Gluon conv or dense layer (its ``activation=`` is a child block: described with it)."""
    cls = type(obj).__name__
    return not children or cls.lower() in _ACTIVATION_CLASSES or cls in ("Conv1D", "Conv2D", "Conv3D", "Dense")


# --------------------------------------------------------------------------- capturing
def _shape(value):
    return tuple(int(d) for d in value.shape) if hasattr(value, "shape") else ()


def _gluon_hook(out, keep, name, blk, inputs, output):
    first: Any = inputs[0] if isinstance(inputs, (tuple, list)) and inputs else inputs  # an NDArray or a Tensor
    described = describe_gluon(blk)
    value = output.asnumpy() if keep and hasattr(output, "asnumpy") else None
    given = first.asnumpy() if keep and hasattr(first, "asnumpy") else None
    for i, (kind, attrs) in enumerate(described):
        # a conv with activation=: the conv's own output is not exposed; the activation's is the block's
        last = i == len(described) - 1
        out.append(Layer(name, kind, attrs, _shape(first), _shape(output), value if last else None, type(blk).__name__,
                         input=given if i == 0 else None))


def _torch_hook(out, keep, name, mod, inputs, output):
    first: Any = inputs[0] if isinstance(inputs, (tuple, list)) and inputs else inputs  # an NDArray or a Tensor
    described = describe_torch(mod)
    value = output.detach().cpu().numpy().copy() if keep and hasattr(output, "detach") else None
    given = first.detach().cpu().numpy().copy() if keep and hasattr(first, "detach") else None
    for i, (kind, attrs) in enumerate(described):
        last = i == len(described) - 1
        out.append(Layer(name, kind, attrs, _shape(first), _shape(output), value if last else None, type(mod).__name__,
                         input=given if i == 0 else None))


def gluon_units(block):
    """``[(name, block)]`` of the Gluon layers (see :func:`_is_unit`), parents before children skipped."""
    from modern_cnns.parity.weights.state import walk_gluon

    units, inside, seen = [], [], set()
    for name, blk in walk_gluon(block):
        name = name.rstrip(".")
        if id(blk) in seen or any(name.startswith(p + ".") for p in inside):
            continue
        seen.add(id(blk))
        if _is_unit(blk, blk._children):
            units.append((name, blk))
            if blk._children:
                inside.append(name)
    return units


def torch_units(module):
    """``[(name, module)]`` of the torch layers (see :func:`_is_unit`)."""
    units, inside = [], []
    for name, mod in module.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        if _is_unit(mod, list(mod.children())):
            units.append((name, mod))
            if list(mod.children()):
                inside.append(name)
    return units


@contextmanager
def imperative(block):
    """Run a Gluon ``block`` layer by layer for a while, however it was hybridized.

    A hybridized block runs its cached graph as one operator: no layer inside starts on its own, so
    no hook sees its values (and while the graph is first traced, the hooks see Symbols, not arrays).
    Each HybridBlock's ``_active`` flag is cleared and then restored; its cached graph is kept.
    """
    from mxnet.gluon import HybridBlock

    from modern_cnns.parity.weights.state import walk_gluon

    saved = [(blk, blk._active) for _, blk in walk_gluon(block) if isinstance(blk, HybridBlock)]
    for blk, _ in saved:
        blk._active = False
    try:
        yield block
    finally:
        for blk, active in saved:
            blk._active = active


def capture_gluon(block, x, train: bool, keep: bool):
    """``[Layer]`` of the Gluon ``block`` on NDArray ``x``, in execution order (values if ``keep``); a
    hybridized block is run layer by layer for it (:func:`imperative`)."""
    from mxnet import autograd

    layers: list[Layer] = []
    handles = []
    for name, blk in gluon_units(block):
        handles.append(blk.register_forward_hook(partial(_gluon_hook, layers, keep, name)))
    try:
        with imperative(block):
            if train:
                with autograd.record():
                    block(x)
            else:
                block(x)
    finally:
        for h in handles:
            h.detach()
    return layers


def capture_torch(module, x, train: bool, keep: bool, describe_failing: bool = False):
    """(``[Layer]`` of the torch ``module`` on tensor ``x`` in execution order, error text or None).

    ``describe_failing``: where the forward pass fails, the layer it failed in closes the list, described
    from what it declares (no output): for the structural diff, whose attributes are often the cause.
    """
    import torch

    layers: list[Layer] = []
    started: list[tuple[str, Any, tuple]] = []
    handles = []
    for name, mod in torch_units(module):
        handles.append(mod.register_forward_pre_hook(
            lambda m, i, name=name: started.append((name, m, _shape(i[0] if isinstance(i, tuple) and i else i)))))
        handles.append(mod.register_forward_hook(partial(_torch_hook, layers, keep, name)))
    error = None
    try:
        with torch.no_grad():
            module.train(train)(x)
    except Exception as err:  # a broken port: say where it broke
        done = {layer.name for layer in layers}
        failing = [(n, m, shape) for n, m, shape in started if n not in done]
        error = (f"torch forward fails in layer {failing[-1][0] if failing else '?'}: "
                 f"{type(err).__name__}: {err}")
        if failing and describe_failing:  # e.g. a pooling kernel larger than its input
            name, mod, in_shape = failing[-1]
            layers += [Layer(name, kind, attrs, in_shape, (), None, type(mod).__name__)
                       for kind, attrs in describe_torch(mod)]
    finally:
        for h in handles:
            h.remove()
    return layers, error


# --------------------------------------------------------------------------- aligning
#: above this many cells (gluon layers x torch layers) the optimal alignment's table is not built
#: (about 100 MB): the greedy longest-runs alignment of :mod:`difflib` is used instead
ALIGN_CELLS = 25_000_000


def align(g_layers, t_layers):
    """``[(gluon Layer or None, torch Layer or None)]`` in execution order, paired by kind.

    The alignment pairs as many layers of equal kind as possible, and among such pairings, as many
    of equal output shape too (:func:`_optimal_runs`).  A greedy longest-runs match is not enough:
    in a network of repeated units where one tree runs a layer the other runs functionally (a
    pooling inside every attention unit), the longest run can pair one stage's units with the next
    stage's, and one missing ReLU then reads as dozens of missing layers.  Between pairings, a run
    of equal length pairs layer by layer (a max pooling where the original has an average one is
    still the same layer); anything else is one tree's alone.
    """
    a = [layer.key for layer in g_layers]
    b = [layer.key for layer in t_layers]
    opcodes = _optimal_runs(g_layers, t_layers) if len(a) * len(b) <= ALIGN_CELLS else \
        difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    out = []
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            out += list(zip(g_layers[i1:i2], t_layers[j1:j2]))
        elif op == "replace" and i2 - i1 == j2 - j1:
            for g, t in zip(g_layers[i1:i2], t_layers[j1:j2]):  # a dropout pairs with a dropout only
                out += [(g, t)] if (g.kind == "dropout") == (t.kind == "dropout") else [(g, None), (None, t)]
        elif op == "replace" and t_layers[j1].kind == "identity":  # a placeholder where the original has a layer
            out += [(g_layers[i1], t_layers[j1])]
            out += [(g, None) for g in g_layers[i1 + 1:i2]] + [(None, t) for t in t_layers[j1 + 1:j2]]
        else:
            out += [(g, None) for g in g_layers[i1:i2]] + [(None, t) for t in t_layers[j1:j2]]
    return out


def _optimal_runs(g_layers, t_layers) -> list[tuple[str, int, int, int, int]]:
    """:class:`difflib.SequenceMatcher`-style opcodes of a best alignment: a pair of equal kind scores 1,
    2 if its output shapes are equal too; the pairing of highest total wins (dynamic programming over
    the table of prefixes, one vectorised row at a time)."""
    ids: dict = {}
    kind = np.array([ids.setdefault(layer.key, len(ids)) for layer in t_layers], dtype=np.int64)
    shape = np.array([ids.setdefault(("shape", layer.out_shape), len(ids)) for layer in t_layers], dtype=np.int64)
    n, m = len(g_layers), len(t_layers)
    best = np.zeros((n + 1, m + 1), dtype=np.int32)  # best[i, j]: the best score of g[:i] against t[:j]
    weight = np.zeros((n, m), dtype=np.int8)
    for i, layer in enumerate(g_layers):
        same = kind == ids.get(layer.key, -1)
        weight[i] = same * (1 + (shape == ids.get(("shape", layer.out_shape), -1)))
        # pair g[i] with t[j] (diagonal), or leave g[i] alone (from above); leaving t[j] alone (from the
        # left) is a running maximum along the row
        best[i + 1, 1:] = np.maximum.accumulate(np.maximum(best[i, :-1] + weight[i], best[i, 1:]))
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:  # walking back, a layer is left alone whenever that costs nothing: of equal
        if best[i, j] == best[i - 1, j]:  # alignments the one that pairs earliest wins (a torch pass that
            i -= 1                        # failed in a layer ends early: its layers pair from the start)
        elif best[i, j] == best[i, j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return _opcodes(pairs[::-1], n, m)


def _opcodes(pairs, n: int, m: int) -> list[tuple[str, int, int, int, int]]:
    """``pairs`` (increasing ``(i, j)``) as opcodes: runs of pairs are "equal", the stretches between them
    "replace", "delete" (gluon alone) or "insert" (torch alone)."""
    out: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    for pi, pj in [*pairs, (n, m)]:
        if pi > i or pj > j:
            out.append(("replace" if pi > i and pj > j else "delete" if pi > i else "insert", i, pi, j, pj))
        if (pi, pj) == (n, m):
            break
        if out and out[-1][0] == "equal" and out[-1][2] == pi and out[-1][4] == pj:
            out[-1] = ("equal", out[-1][1], pi + 1, out[-1][3], pj + 1)
        else:
            out.append(("equal", pi, pi + 1, pj, pj + 1))
        i, j = pi + 1, pj + 1
    return out


def both_names(g: Layer | None, t: Layer | None) -> str:
    """``torch name (gluon name)``: torch first, Gluon in parentheses; one side alone says so."""
    if t is None:
        assert g is not None, "align pairs a layer with its counterpart or with None, never None with None"
        return f"(gluon {g.name}, no torch counterpart)"
    if g is None:
        return f"{t.name} (torch only)"
    return f"{t.name} (gluon {g.name})"


# --------------------------------------------------------------------------- differences
_KIND_WORDS = {"conv": "conv", "dense": "dense", "batchnorm": "BatchNorm", "pool": "pooling",
               "activation": "activation", "dropout": "dropout", "flatten": "flatten"}
_ATTR_WORDS = {("pool", "type"): "pooling type", ("activation", "type"): "activation type",
               ("activation", "slope"): "LeakyReLU slope", ("dropout", "rate"): "dropout rate",
               ("batchnorm", "affine"): "BatchNorm affine", ("pool", "global"): "pooling global vs fixed",
               ("conv", "bias"): "conv bias", ("dense", "bias"): "dense bias"}


@dataclass
class Difference:
    """One kind of structural difference, with every layer where it occurs.

    ``name`` is what ``accept=`` / ``--accept`` takes (e.g. ``batchnorm-eps``, ``dropout-rate``).
    """

    name: str
    what: str                  #: "BatchNorm eps", "pooling type", ...
    torch: object
    gluon: object
    layers: list = field(default_factory=list)   #: [(gluon Layer | None, torch Layer | None)]
    accepted: bool = False
    #: False for a layer one tree runs as a module and the other may run functionally (a missing or
    #: extra ReLU, a pooling inside a block): said only when the values differ, never fails alone
    certain: bool = True

    @property
    def torch_layer(self) -> str | None:
        g, t = self.layers[0]
        return t.name if t is not None else None

    def text(self, shown: int = 5) -> str:
        names = [both_names(g, t) for g, t in self.layers]
        more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
        where = f"in layer {names[0]}" if len(names) == 1 else f"in {len(names)} layers: {', '.join(names[:shown])}"
        if self.name == "dropout-position":  # its values name layers too: where it is comes first
            return f"{self.what} {where}{more}: torch {_show(self.torch)}, gluon {_show(self.gluon)}"
        return f"{self.what}: torch {_show(self.torch)}, gluon {_show(self.gluon)}, {where}{more}"


def _show(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple) and len(set(value)) == 1:
        return str(value[0])
    return str(value)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return bool(np.isclose(a, b, rtol=1e-6, atol=0.0))
    return a == b


def _attr_differences(g: Layer, t: Layer):
    """``[(what, name, torch value, gluon value)]`` between two aligned layers of the same kind."""
    out: list[tuple[str, str, object, object]] = []
    if g.kind != t.kind:
        if t.kind == "identity":
            return [(f"missing layer (a {_layer_word(g)} in gluon, an Identity in torch)", "missing-layer",
                     "Identity", _layer_word(g))]
        return [("layer kind", "layer-kind", _layer_word(t), _layer_word(g))]
    if g.kind == "pool" and (g.attrs.get("global") != t.attrs.get("global")):
        g_pool = "global" if g.attrs.get("global") else f"fixed {_show(g.attrs.get('kernel'))}"
        t_pool = "global" if t.attrs.get("global") else \
            f"adaptive {t.attrs['adaptive']}" if "adaptive" in t.attrs else f"fixed {_show(t.attrs.get('kernel'))}"
        out.append(("pooling global vs fixed (depends on the input size)", "pool-global", t_pool, g_pool))
        if g.attrs.get("type") != t.attrs.get("type"):
            out.append(("pooling type", "pool-type", t.attrs.get("type"), g.attrs.get("type")))
        return out
    for attr in sorted(set(g.attrs) | set(t.attrs)):
        gv, tv = g.attrs.get(attr), t.attrs.get(attr)
        if gv is None or tv is None or _same(gv, tv):
            continue
        if g.kind == "activation" and attr == "type":
            what = "activation type"
        elif g.kind == "batchnorm" and attr == "momentum":
            swapped = _same(float(tv), float(np.float32(1.0 - gv)))
            what = ("BatchNorm momentum convention swapped (Gluon's momentum m weights the old value, torch's the "
                    "new one: Gluon's m is torch's 1-m; both shown in Gluon's convention)") if swapped else \
                "BatchNorm momentum value (both shown in Gluon's convention, the weight of the old value)"
        else:
            what = _ATTR_WORDS.get((g.kind, attr), f"{_KIND_WORDS.get(g.kind, g.kind)} {attr}")
        out.append((what, f"{g.kind}-{attr}".replace("_", "-"), tv, gv))
    return out


def _layer_word(layer: Layer) -> str:
    if layer.kind == "activation":
        return layer.attrs.get("type", "activation")
    if layer.kind == "other":
        return layer.cls
    return _KIND_WORDS.get(layer.kind, layer.kind)


def differences(pairs) -> list:
    """Structural differences between aligned layers, grouped: one :class:`Difference` per attribute and values.

    Dropout is compared by rate and position: a dropout one tree runs at another place is a
    ``dropout-position`` difference, not a missing and an extra layer.
    """
    grouped = {}

    def add(what, name, tv, gv, g, t):
        key = (name, _show(tv), _show(gv))
        if key not in grouped:
            certain = name not in ("missing-layer", "extra-layer", "layer-kind")
            grouped[key] = Difference(name, what, tv, gv, certain=certain)
        grouped[key].layers.append((g, t))

    lonely_g = [(i, g) for i, (g, t) in enumerate(pairs) if t is None and g.kind == "dropout"]
    lonely_t = [(i, t) for i, (g, t) in enumerate(pairs) if g is None and t.kind == "dropout"]
    moved: set[int] = set()  # ids of the dropout layers paired as moved
    for (i, g), (j, t) in zip(lonely_g, lonely_t):
        before_g = next((p[1].name for p in reversed(pairs[:i]) if p[0] and p[1]), "the input")
        before_t = next((p[1].name for p in reversed(pairs[:j]) if p[0] and p[1]), "the input")
        add("dropout position", "dropout-position", f"p={t.attrs['rate']:g} after {before_t}",
            f"p={g.attrs['rate']:g} after {before_g}", g, t)
        moved.update((id(g), id(t)))
    for g, t in pairs:
        if g is not None and t is not None:
            for what, name, tv, gv in _attr_differences(g, t):
                add(what, name, tv, gv, g, t)
        elif g is not None and id(g) not in moved and g.kind not in ("flatten", "identity"):
            if g.kind == "dropout":  # values cannot show a dropout: one tree's alone is certain
                add(f"dropout only in gluon (p={g.attrs['rate']:g})", "dropout-position", "none",
                    f"p={g.attrs['rate']:g}", g, None)
                continue
            add(f"missing layer (a {_layer_word(g)} in gluon only)", "missing-layer", "none", _layer_word(g), g, None)
        elif t is not None and id(t) not in moved and t.kind not in ("flatten", "identity"):
            if t.kind == "dropout":
                add(f"dropout only in torch (p={t.attrs['rate']:g})", "dropout-position", f"p={t.attrs['rate']:g}",
                    "none", None, t)
                continue
            add(f"extra layer (a {_layer_word(t)} in torch only)", "extra-layer", _layer_word(t), "none", None, t)
    return list(grouped.values())


__all__ = ["Layer", "Difference", "describe_gluon", "describe_torch", "capture_gluon", "capture_torch", "align",
           "differences", "both_names"]


def capture_pair(pair, x, keep=False):
    """(gluon layers, torch layers) of a :class:`~parity.verdict.pair.Pair` as run on the probe ``x`` in
    prediction mode (their outputs if ``keep``); None if that fails."""
    import torch
    from mxnet import nd

    from modern_cnns.parity.frameworks import gluon_ctx, torch_device

    try:
        g = capture_gluon(pair.block, nd.array(x, ctx=gluon_ctx(pair.device), dtype=pair.dtype), False, keep)
        t, _ = capture_torch(pair.module, torch.tensor(x, dtype=getattr(torch, pair.dtype),
                                                       device=torch_device(pair.device)), False, keep,
                             describe_failing=True)
        return g, t
    except Exception:  # a diagnosis aid: never hide the verdict behind its failure
        return None


def read_structure(pair):
    """``pair.structure()`` (what the statistics findings need of the original), or None if that fails."""
    try:
        return pair.structure()
    except Exception:  # a diagnosis aid: never hide the verdict behind its failure
        return None
