"""Comparing tensors across frameworks, with one notion of "relative".

The relative difference of two tensors is ``max|a - b| / max|b|``: the worst
element difference measured against the tensor's own scale.  Element-wise ratios
would blow up on entries that are zero up to rounding (a gradient that should be
0 and is 1e-17 in one framework and -1e-17 in the other).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TINY = float(np.finfo(np.float64).tiny)


@dataclass
class Diff:
    """The largest absolute and relative difference between two tensors."""
    name: str
    max_abs: float
    max_rel: float
    shape: tuple

    def __str__(self):
        return f"{self.name} {self.shape}: max abs diff {self.max_abs:.3e}, max rel diff {self.max_rel:.3e}"


#: elements per chunk: whole-tensor temporaries of VGG-11's 103M-element dense weight cost more in
#: page faults than the arithmetic (15 s of a 60 s check, measured); one float64 buffer of a chunk
#: serves every chunk (a fresh ``astype`` copy per chunk had cost 3.6 s of a VGG-11 check)
_CHUNK = 1 << 20


def max_abs(a, b=None) -> float:
    """``max|a - b|`` (or ``max|a|``), in float64, chunk by chunk; NaN if any element is NaN."""
    a = np.asarray(a).reshape(-1)
    b = None if b is None else np.asarray(b).reshape(-1)
    if a.size == 0:
        return 0.0
    buffer = np.empty(min(a.size, _CHUNK), np.float64)
    maxima = []
    for start in range(0, a.size, _CHUNK):
        x = a[start:start + _CHUNK]
        out = buffer[:x.size]
        if b is None:
            np.abs(x, out=out)
        else:  # dtype=float64: the difference itself is taken in float64, not in the inputs' dtype
            np.abs(np.subtract(x, b[start:start + _CHUNK], out=out, dtype=np.float64), out=out)
        maxima.append(out.max())
    return float(np.max(maxima))  # np.max, not max(): it propagates NaN


def diff(name, actual, expected, floor=0.0) -> Diff:
    """Max abs and max rel diff; ``floor`` bounds the scale from below (see parity.verdict.tolerance)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {actual.shape} vs expected {expected.shape}")
    if actual.size == 0:
        return Diff(name, 0.0, 0.0, actual.shape)
    largest = max_abs(actual, expected)
    if largest == 0.0:
        return Diff(name, 0.0, 0.0, actual.shape)
    scale = max_abs(expected)
    return Diff(name, largest, largest / max(scale, floor, _TINY), actual.shape)


def assert_close(name, actual, expected, rtol, floor=0.0):
    """Raise naming the tensor, its max abs and rel diff and the tolerance when rel diff > rtol."""
    d = diff(name, actual, expected, floor)
    if not d.max_rel <= rtol:
        raise AssertionError(f"{d} exceeds rtol {rtol:.1e}")
    return d
