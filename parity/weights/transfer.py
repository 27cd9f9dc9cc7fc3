"""Move every parameter and every BatchNorm statistic between a Gluon block and a torch module.

``gluon_to_torch(block, module)`` and ``torch_to_gluon(module, block)`` copy
parameters, running statistics and the course's plain-attribute moving
statistics.  Destination tensors keep their dtype and device/context; values are
cast into them.

Matching, in order of preference:

* **by name** (default): the structural names of both trees, with Gluon's
  ``gamma``/``beta`` answering to torch's ``weight``/``bias``.  Our mirrored trees
  match this way as they are.
* **name map**: ``name_map`` is a dict ``{source name: destination name}`` or a
  function ``source name -> destination name``; a name it leaves out (or maps to
  ``None``) falls back to matching by name.  Use it for a user's own pair of models.
* **positional** (``positional=True``, opt-in): the i-th source tensor goes to the
  i-th destination tensor, both in module registration order.

Every mode checks every shape.  Strict by default: a missing, unexpected or
mis-shaped tensor raises one :class:`TransferError` listing every problem (names
and both shapes) *before anything is written*, so the destination is never left
half transferred.  ``strict=False`` copies what matches and reports the rest
(mis-shaped tensors are never copied).  The returned :class:`TransferReport` says
what went where.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modern_cnns.parity.weights.state import gluon_slots, torch_slots

_SUFFIX_TWINS = {"gamma": "weight", "beta": "bias", "weight": "gamma", "bias": "beta"}


class NameMapError(ValueError):
    """A name map that cannot be read; says what was expected."""


class TransferError(ValueError):
    """A transfer was refused; ``problems`` lists every reason.  The destination is unchanged."""

    def __init__(self, direction, problems, hint=""):
        self.direction, self.problems, self.hint = direction, problems, hint
        super().__init__(f"{direction} transfer refused ({len(problems)} problem(s)); the destination "
                         "model was not modified:\n  " + "\n  ".join(problems) + (f"\n{hint}" if hint else ""))

    def __reduce__(self):  # pickles as itself: side-by-side training sends it from the training process
        return type(self), (self.direction, self.problems, self.hint)


@dataclass
class TransferReport:
    """What a transfer moved where, and (``strict=False``) what it left out."""
    direction: str
    mapped: list = field(default_factory=list)       # (source name, destination name, shape)
    unexpected: list = field(default_factory=list)   # source names nothing received (strict=False)
    missing: list = field(default_factory=list)      # destination names nothing filled (strict=False)
    mismatched: list = field(default_factory=list)   # "name: shapes" not copied (strict=False)
    ignored: list = field(default_factory=list)      # e.g. torch's num_batches_tracked
    reshaped: list = field(default_factory=list)     # (source, destination, source shape, destination shape)
    zeroed: list = field(default_factory=list)       # destination names set to zero and frozen, by request
    notes: list = field(default_factory=list)        # what was read other than as stored (bfloat16 via float32)

    def __str__(self):
        lines = [f"{self.direction}: {len(self.mapped)} tensors transferred"]
        lines += [f"  {src} -> {dst} {tuple(shape)}" for src, dst, shape in self.mapped]
        lines += [f"  reshaped: {s} {tuple(a)} -> {d} {tuple(b)}" for s, d, a, b in self.reshaped]
        for label in ("unexpected", "missing", "mismatched", "ignored", "zeroed", "notes"):
            for name in getattr(self, label):
                lines.append(f"  {label}: {name}")
        return "\n".join(lines)


def _by_name(name, dst):
    if name in dst:
        return name
    head, _, last = name.rpartition(".")
    twin = _SUFFIX_TWINS.get(last)
    if twin:
        candidate = f"{head}.{twin}" if head else twin
        if candidate in dst:
            return candidate
    return None


def _lookup(name_map, name):
    if name_map is None:
        return None
    return name_map.get(name) if isinstance(name_map, dict) else name_map(name)


def _pair(src, dst, name_map, positional):
    """Return (pairs, unexpected source names, missing destination names)."""
    if positional:
        s, d = list(src), list(dst)
        n = min(len(s), len(d))
        return list(zip(s[:n], d[:n])), s[n:], d[n:]
    pairs, taken = [], set()
    unexpected = []
    for name in src:
        target = _lookup(name_map, name)
        # a mapped name gets the gamma/beta <-> weight/bias fallback too (a map written per layer)
        target = (_by_name(target, dst) or target) if target else _by_name(name, dst)
        if target is None or target not in dst or target in taken:
            unexpected.append(name)
            continue
        taken.add(target)
        pairs.append((name, target))
    missing = [name for name in dst if name not in taken]
    return pairs, unexpected, missing


def _trim(shape) -> tuple:
    shape = tuple(shape)
    while shape and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _fits(a, b) -> bool:
    """Same shape, or the same but for trailing singleton dimensions (a 1x1 conv's weight and a dense one's)."""
    return tuple(a) == tuple(b) or _trim(a) == _trim(b)


def transfer_slots(direction, src, dst, ignored, *, name_map, positional, strict, zero_frozen=()):
    """Pair ``src`` slots with ``dst`` slots and copy them, all or nothing (see :func:`gluon_to_torch`)."""
    src_fw, dst_fw = direction.split(" -> ")
    zero_frozen = list(zero_frozen)
    unknown = [name for name in zero_frozen if name not in dst]
    if unknown:
        raise TransferError(direction, [f"zero_frozen names no {dst_fw} tensor: {name}" for name in unknown])
    dst_open = {name: slot for name, slot in dst.items() if name not in zero_frozen}
    pairs, unexpected, missing = _pair(src, dst_open, name_map, positional)
    mismatched = [f"{s} -> {d}: {src_fw} {src[s].shape} vs {dst_fw} {dst[d].shape}"
                  for s, d in pairs if not _fits(src[s].shape, dst[d].shape)]
    report = TransferReport(direction, ignored=ignored)
    if strict:
        problems = ([f"shape mismatch {m}" for m in mismatched]
                    + [f"unexpected (in {src_fw}, no {dst_fw} counterpart): {s} {src[s].shape}" for s in unexpected]
                    + [f"missing (in {dst_fw}, no {src_fw} counterpart): {d} {dst[d].shape}" for d in missing])
        if problems:
            hint = ("The two trees name their tensors differently? Pass a name map (name_map=, --map; "
                    "`python -m parity suggest-map` proposes one) or pair them in order (positional=True, "
                    "--positional).") if unexpected and missing and not positional else ""
            raise TransferError(direction, problems, hint)
    else:
        report.unexpected, report.missing, report.mismatched = unexpected, missing, mismatched
    good = [(s, d) for s, d in pairs if _fits(src[s].shape, dst[d].shape)]
    # Read everything first: a failure while reading leaves the destination untouched.
    values = [(dst[d], src[s].read().reshape(dst[d].shape)) for s, d in good]
    for slot, value in values:
        slot.write(value)
    for name in zero_frozen:
        dst[name].write(np.zeros(dst[name].shape, dtype=dst[name].dtype))
    report.mapped = [(s, d, src[s].shape) for s, d in good]
    report.reshaped = [(s, d, src[s].shape, dst[d].shape) for s, d in good if src[s].shape != dst[d].shape]
    report.zeroed = zero_frozen
    return report


def gluon_to_torch(block, module, *, name_map=None, positional=False, strict=True, example_input=None,
                   zero_frozen=()) -> TransferReport:
    """Copy a Gluon block's state (parameters, running and moving statistics) into a torch module.

    Args:
        block: the source Gluon block, initialised.
        module: the destination torch module; its dtype and device are kept.
        name_map: ``{gluon name: torch name}`` or a function of the Gluon name, for trees whose
            names differ; names it does not cover are paired by name (gamma/beta <-> weight/bias).
        positional: pair tensors in registration order instead of by name (shapes still checked).
        strict: every source and destination tensor must be paired.
        example_input: a shape or an array that materialises deferred (Gluon) or lazy (torch) shapes.
        zero_frozen: torch tensors the Gluon model has no counterpart of, declared zero and frozen
            (``requires_grad=False``): the bias of a torch ``Linear`` that ports a bias-free 1x1
            convolution.  Weights whose shapes differ only by trailing singleton dimensions (that
            convolution's ``(O, I, 1, 1)`` and the ``Linear``'s ``(O, I)``) are reshaped, and listed
            in the report's ``reshaped``.

    Returns:
        A :class:`TransferReport`: what went where, and what was left out.

    Raises:
        TransferError: listing every missing, unexpected or mis-shaped tensor (with both shapes);
            the destination is then untouched.
    """
    src = gluon_slots(block, example_input)
    dst, ignored = torch_slots(module, example_input)
    report = transfer_slots("gluon -> torch", src, dst, ignored, name_map=name_map, positional=positional,
                            strict=strict, zero_frozen=zero_frozen)
    for name in zero_frozen:
        module.get_parameter(name).requires_grad_(False)
    return report


def torch_to_gluon(module, block, *, name_map=None, positional=False, strict=True,
                   example_input=None) -> TransferReport:
    """Copy a torch module's state into a Gluon block: :func:`gluon_to_torch` the other way.

    ``name_map`` maps torch names to Gluon names here; the rest is as in :func:`gluon_to_torch`.
    """
    src, ignored = torch_slots(module, example_input)
    dst = gluon_slots(block, example_input)
    return transfer_slots("torch -> gluon", src, dst, ignored, name_map=name_map, positional=positional, strict=strict)


def load_name_map(path) -> dict:
    """A ``{gluon name: torch name}`` map from a JSON file (as ``python -m parity suggest-map`` writes it)."""
    import json
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise NameMapError(f"{path}: cannot read a name map ({err}); expected a JSON object of gluon -> torch "
                           "names") from None
    mapping = data.get("map", data) if isinstance(data, dict) else None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise NameMapError(f"{path}: expected a JSON object mapping gluon names to torch names")
    return mapping
