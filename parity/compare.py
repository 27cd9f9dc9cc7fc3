"""Comparing tensors across frameworks, with one notion of "relative".

The relative difference of two tensors is ``max|a - b| / max|b|``: the worst
element difference measured against the tensor's own scale.  Element-wise ratios
would blow up on entries that are zero up to rounding (a gradient that should be
0 and is 1e-17 in one framework and -1e-17 in the other).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TINY = np.finfo(np.float64).tiny


@dataclass
class Diff:
    name: str
    max_abs: float
    max_rel: float
    shape: tuple

    def __str__(self):
        return f"{self.name} {self.shape}: max abs diff {self.max_abs:.3e}, max rel diff {self.max_rel:.3e}"


def diff(name, actual, expected, floor=0.0) -> Diff:
    """Max abs and max rel diff; ``floor`` bounds the scale from below (see parity.tolerance)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {actual.shape} vs expected {expected.shape}")
    if actual.size == 0:
        return Diff(name, 0.0, 0.0, actual.shape)
    max_abs = float(np.abs(actual - expected).max())
    scale = float(np.abs(expected).max())
    return Diff(name, max_abs, max_abs / max(scale, floor, _TINY) if max_abs else 0.0, actual.shape)


def assert_close(name, actual, expected, rtol, floor=0.0):
    """Raise naming the tensor, its max abs and rel diff and the tolerance when rel diff > rtol."""
    d = diff(name, actual, expected, floor)
    if not d.max_rel <= rtol:
        raise AssertionError(f"{d} exceeds rtol {rtol:.1e}")
    return d
