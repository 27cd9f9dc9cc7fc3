"""The one tolerance policy of the parity checks, with the reason for every loosening.

Relative differences are ``max|a - b| / max|b|`` (see :mod:`parity.compare`).

float64: the semantics are proven equal (DESIGN.md: predictions <= 7e-16, train
outputs <= 1.4e-14, gradients <= 1.8e-13 across the catalog), so every check on
every network must agree within ``FLOAT64_RTOL``.

float32: a fixed tolerance cannot judge every case.  Max-pool and ReLU near-ties
make some gradients ill-conditioned: ResNet-18's float32 gradients differ by
~0.3 between the frameworks while *each* is ~0.4 from the float64 result, and
float32 training trajectories drift for the same reason.  So a float32 check
passes when either

1. **plain**: the port is within ``FLOAT32_RTOL[check]`` of the original, or
2. **against float64**: the port's distance from the float64 result is no worse
   than ``FLOAT32_FACTOR`` times the original's own distance from it (with a
   floor of ``FLOAT32_FLOOR``, float32 rounding itself): the port is as good an
   approximation of the true function as the original is.  For gradients and
   post-step tensors the original's distance is the worst over its *group* (all
   gradients, or all tensors after K steps): a near-tie that flips in one
   framework's float32 forward pass spoils the gradients of whichever tensors
   sit downstream of it, and which tensors those are is chance (measured on
   GoogLeNet: torch's ``2.1.p1_1.weight`` gradient lands 2.8e-4 from float64
   where Gluon's lands 7e-7, while Gluon's own input gradient is 2.4e-3 off).

Contexts: float32 is judged against MXNet as it ships (oneDNN on, the ``cpu``
context), and on ``gpu``.  With oneDNN disabled, MXNet's native float32 kernels
are far more accurate than PyTorch's CPU kernels (VGG-11 input gradient: 3.8e-7
from float64 for MXNet, 1.8e-2 for torch; with oneDNN on MXNet is itself ~1e-2
off), so a float32 verdict there would judge torch's kernels, not the port: that
context proves the semantics in float64 only (``FLOAT64_ONLY_CONTEXTS``).

Scale floor: some tensors are zero analytically and rounding noise numerically:
the gradient of a convolution's bias that a BatchNorm follows (BN subtracts the
mean, so the bias cannot change the output), and that bias after K steps.  Their
own scale is ~1e-17, so ``max|a - b| / max|b|`` would compare noise with noise.
Each comparison's scale is therefore at least ``SCALE_FLOOR`` times the largest
value in its group (all parameter gradients, or all tensors after K steps): a
difference is judged against the magnitudes the network actually works with.
"""
from __future__ import annotations

import numpy as np

FLOAT64_RTOL = 1e-10

#: contexts whose float32 results would measure kernel accuracy rather than the port (see above)
FLOAT64_ONLY_CONTEXTS = {"cpu (oneDNN off)": "MXNet's native float32 kernels are far more accurate than "
                                             "PyTorch's CPU kernels: float32 is judged in the default cpu context"}

#: plain float32 tolerances, per check kind
FLOAT32_RTOL = {
    "predict output": 1e-5,     # a few float32 ulps through the depth of the network
    "train output": 1e-5,
    "input gradient": 1e-4,     # back-propagation sums many terms: more rounding
    "gradient": 1e-4,
    "after steps": 1e-4,        # K SGD steps compound the gradient rounding
}

#: the port may be this many times further from float64 than the original is
FLOAT32_FACTOR = 4.0
#: ... and never needs to be closer than this (float32 epsilon is 1.2e-7)
FLOAT32_FLOOR = 1e-6


def kind_of(check: str) -> str:
    if check.startswith("gradient of"):
        return "gradient"
    if check.startswith("after "):
        return "after steps"
    return check


def judge(check, dtype, rel, port_err=None, orig_err=None):
    """Return ``(passed, tolerance text)`` for one comparison.

    ``rel``: relative diff port vs original.  ``port_err``/``orig_err``: each
    framework's float32 relative distance from the float64 result (float32 only).
    """
    if dtype == "float64":
        return rel <= FLOAT64_RTOL, f"rel <= {FLOAT64_RTOL:.0e}"
    plain = FLOAT32_RTOL[kind_of(check)]
    if rel <= plain:
        return True, f"rel <= {plain:.0e}"
    if port_err is None or orig_err is None:
        return False, f"rel <= {plain:.0e}"
    bound = FLOAT32_FACTOR * max(orig_err, FLOAT32_FLOOR)
    scope = "original" if group_of(check) == check else "original's group worst"
    return port_err <= bound, f"vs float64: port {port_err:.1e} <= {FLOAT32_FACTOR:g} x {scope} {orig_err:.1e}"


#: a tensor's scale is at least this fraction of the largest value in its group
SCALE_FLOOR = 1e-3


def group_of(check: str) -> str:
    kind = kind_of(check)
    return kind if kind in ("gradient", "after steps") else check


def scale_floor(arrays) -> float:
    """The scale floor of one group of tensors: ``SCALE_FLOOR`` times its largest magnitude."""
    return SCALE_FLOOR * max((float(np.abs(a).max()) for a in arrays if np.size(a)), default=0.0)


def group_floors(results: dict) -> dict:
    """``{group: floor}`` from the reference results ``{check: array}``."""
    groups = {}
    for check, value in results.items():
        groups.setdefault(group_of(check), []).append(value)
    return {group: scale_floor(values) for group, values in groups.items()}
