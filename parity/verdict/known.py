"""Known differences, as data: framework kernels that round where a port cannot, and conventions a port
may keep on purpose.  ``accept=`` (CLI ``--accept NAME``) turns one into a reported KNOWN DIFFERENCE;
any other difference still fails.

Each framework difference says what the kernel does, the measurement that shows it (the tests of
``parity_tests/test_known_differences.py`` repeat it), and how the checker reproduces it on the
port's side when it is accepted: the port then computes what the original's kernel computes, so
that everything *else* is still held to the float64 tolerance.

Measured and not acceptable (no exact emulation found): MXNet's float64 GELU (``LeakyReLU``
``act_type='gelu'``) is accurate to float32 only, 3.6e-7 from the exact erf GELU over [-4, 4]; a
GELU pair is checked in float32 (``parity_tests/test_known_differences.py`` measures it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from modern_cnns.parity.verdict.checks import AFTER_STEPS, STATISTICS, CheckSet


@dataclass(frozen=True)
class FrameworkDifference:
    """A kernel of one framework that rounds differently from the other's, measured."""

    name: str
    layer: str          #: the activation type it concerns (a structure.Layer attrs["type"])
    fact: str
    evidence: str
    emulate: Callable   #: emulate(torch module) -> [hook handles]: the port rounds as the original does


def _leaky_float32_hook(module, inputs, output):
    import torch

    x = inputs[0]
    if x.dtype != torch.float64:
        return None
    slope = float(np.float32(module.negative_slope))  # MXNet's gradient there is float32(slope), in float64
    exact = x * slope
    negative = exact + ((x.float() * np.float32(module.negative_slope)).double() - exact).detach()
    return torch.where(x > 0, x, negative)


def _hardsigmoid_exact_hook(module, inputs, output):
    import torch

    x = inputs[0]
    if x.dtype != torch.float64:
        return None
    return torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


def _hooks(kind, hook):
    def emulate(module):
        from torch import nn

        return [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, getattr(nn, kind))]
    return emulate


FRAMEWORK_DIFFERENCES = {d.name: d for d in (
    FrameworkDifference(
        "mxnet-leakyrelu-float32", "leaky relu",
        "in float64, MXNet's LeakyReLU computes its negative side in float32: float32(x) * float32(slope)",
        "x = -10/3, slope 0.1: MXNet -0.3333333432674408, exact -0.33333333333333337 (mxnet 1.9.1)",
        _hooks("LeakyReLU", _leaky_float32_hook)),
    FrameworkDifference(
        "torch-hardsigmoid-backward-float32", "hard sigmoid",
        "torch's float64 F.hardsigmoid backward multiplies by a float32 1/6 (0.1666666716337204), where a Gluon "
        "hard sigmoid written as clip(x + 3, 0, 6) / 6 (gluoncv2's HSigmoid) has 1/6",
        "torch 2.13: the float64 gradient of hardsigmoid at 0 is 0.1666666716337204 (MXNet's own hard_sigmoid "
        "operator also keeps its alpha as a float32)",
        _hooks("Hardsigmoid", _hardsigmoid_exact_hook)),
)}


@dataclass(frozen=True)
class Convention:
    """A convention a port may keep on purpose: accepted when it is all that differs."""

    name: str
    finding: str     #: a phrase its diagnosis contains
    rows: CheckSet   #: the only checks allowed to fail
    reason: str


CONVENTIONS = {c.name: c for c in (
    Convention("unbiased-running-var", "unbiased batch variance",
               CheckSet((STATISTICS, AFTER_STEPS), ("running_var", "running_mean")),
               "the port keeps stock torch BatchNorm, which stores the unbiased batch variance (and a double "
               "momentum): outputs, gradients and weights agree"),
)}

#: structural difference names (:class:`parity.verdict.structure.Difference` ``.name``)
STRUCTURAL = ("conv-kernel", "conv-stride", "conv-padding", "conv-dilation", "conv-groups", "conv-bias", "dense-bias",
              "batchnorm-eps", "batchnorm-momentum", "batchnorm-affine", "pool-type", "pool-kernel", "pool-stride",
              "pool-padding", "pool-ceil-mode", "pool-count-include-pad", "pool-global", "pool-adaptive",
              "pool-dilation", "activation-type", "activation-slope", "dropout-rate", "dropout-position",
              "missing-layer", "extra-layer", "layer-kind")


def valid_names() -> list:
    return [*FRAMEWORK_DIFFERENCES, *CONVENTIONS, *STRUCTURAL]


def check_names(names) -> tuple:
    """``names`` as a tuple, each a known name; a ValueError naming the valid ones otherwise."""
    names = tuple(names or ())
    unknown = [n for n in names if n not in valid_names()]
    if unknown:
        raise ValueError(f"unknown --accept name(s) {', '.join(unknown)}; valid: {', '.join(valid_names())}")
    return names
