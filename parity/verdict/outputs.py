"""Model outputs that are not one tensor: tuples, lists, dicts (auxiliary heads, detection outputs).

A model returning ``(logits, aux)`` used to end in a traceback (``tuple has no attribute
asnumpy``).  Its outputs are now compared element by element, each as a check of its own:
``predict output[0]``, ``predict output[1]``, ``train output['aux']``; a single tensor keeps the
plain name.  The loss both frameworks train on is the cross-entropy of the *first* tensor (in a
dict, the first in insertion order: the logits, in the models that return more than one thing),
plus the sum of every element of the other floating-point outputs (:func:`plus_the_rest`): without it
their layers get no gradient, which Gluon's ``Trainer.step`` refuses ("has not been updated by
backward"), and their gradients would go unchecked.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modern_cnns.parity.verdict.checks import Check


def parts(out, keys: tuple = ()) -> list:
    """``[(keys, tensor)]`` of a tensor or a nested tuple/list/dict of them, in order (``keys`` lead to the
    tensor: ``()`` for a single one); other values skipped."""
    if isinstance(out, dict):
        return [p for key, value in out.items() for p in parts(value, (*keys, key))]
    if isinstance(out, (tuple, list)):
        return [p for i, value in enumerate(out) for p in parts(value, (*keys, i))]
    return [(keys, out)] if hasattr(out, "shape") else []


def first(out):
    """The tensor the loss is computed on: ``out`` itself, or its first tensor."""
    found = parts(out)
    if not found:
        raise ValueError(f"the model returned {type(out).__name__} holding no tensor; expected logits")
    return found[0][1]


def to_numpy(out, convert):
    """``out`` with every tensor converted by ``convert`` (structure kept): a numpy array for a single tensor."""
    if isinstance(out, dict):
        return {key: to_numpy(value, convert) for key, value in out.items()}
    if isinstance(out, (tuple, list)):
        return tuple(to_numpy(value, convert) for value in out)
    return convert(out) if hasattr(out, "shape") else out


def named(check: Check, out) -> dict:
    """``{Check: array}``: one check per tensor of ``out`` (numpy arrays, as :func:`to_numpy` gives), ``check``
    itself for a single tensor."""
    return {check.at_output(keys): value for keys, value in parts(out)}


def plus_the_rest(loss, out):
    """``loss`` plus the sum of every element of the floating-point outputs after the first.

    ``loss`` itself, untouched, when there is one output: no operation is added to its graph.
    """
    import numpy as np

    for _, tensor in parts(out)[1:]:
        floating = tensor.is_floating_point() if hasattr(tensor, "is_floating_point") else \
            np.issubdtype(np.dtype(tensor.dtype), np.floating)
        if floating:
            loss = loss + tensor.sum()
    return loss
