"""The one verdict policy of the parity checks: a table of rules, each with its reason.

Relative differences are ``max|a - b| / max(max|b|, floor)`` (see :mod:`parity.verdict.compare`).

A comparison passes on the first of these grounds that holds, and the report
names the ground (``Row.basis``) and the numbers behind it:

1. **exact** (``before training: ...``): the port holds the values the transfer
   copied, bit for bit.  A port that changed a weight is caught here in every
   dtype, even where the change (8 float32 ulps of one weight, say) is below what
   float32 arithmetic can resolve downstream.
2. **rounding**: the difference is within the rule's plain tolerance, a few
   rounding errors of the dtype through the network.
3. **float64 reference** (float32 only): the port's distance from the float64
   result is no worse than ``FACTOR`` times the original's own distance from it
   (never asked to be closer than ``FLOAT32_FLOOR``): the port approximates the
   true function as well as the original does.
   The original's *noise* is the larger of that distance and its sensitivity
   (below), once measured.
4. **conditioning** (float64): the original *itself* moves by a measured amount
   when its input is nudged by one ulp (:func:`parity.verdict.check.sensitivity` reruns
   it, ``NUDGES_PER_ROUND`` at a time up to ``MAX_NUDGES``); the port may differ
   by ``FACTOR`` times that.  This tells
   "ill-conditioned here" from "wrong": a dense BatchNorm over 2 samples, or 10
   SGD steps of a sigmoid network, move the original by 1e-6 and 3e-10 under a
   1e-16 nudge, and a correct port differs by as much.
5. **float64 decides** (float32): where the original's own float32 noise is at
   least ``UNRESOLVABLE`` (~1000 float32 ulps), float32 cannot resolve the check,
   and the float64 comparison of the *same* check, run alongside, must pass
   instead.  Which max-pool/ReLU ties flip in float32 is chance, and its effect
   is heavy-tailed: over ResNet-18 seeds 0-5 the port's gradient error reached
   4.9x the original's, and the nudged original did not always flip the same
   tie.  A real break cannot hide here: it fails the float64 check.

**Scope.**  Forward quantities are well conditioned (max and ReLU are continuous)
and are judged tensor by tensor: the outputs, and the BatchNorm statistics after
the *first* step, which come from one forward pass at the transferred weights.
That is where BatchNorm conventions show (momentum ``m`` vs ``1 - m``, the biased
vs the unbiased running variance), so no ill-conditioned tensor elsewhere can
excuse them.  Gradients and the state after K steps are not: a max-pool or ReLU
near-tie that flips in one framework's float32 forward spoils the gradients of
whichever tensors sit downstream of it, and which those are is chance (ResNet-18:
float32 gradients differ by ~0.3 between the frameworks while each is ~0.4 from
float64).  Their reference error and sensitivity are the worst over their group.

**Contexts.**  float32 is judged against MXNet as it ships (oneDNN on, the
``cpu`` context) and on ``gpu``.  With oneDNN disabled, MXNet's native float32
kernels are far more accurate than PyTorch's CPU kernels (VGG-11 input gradient:
3.8e-7 from float64 for MXNet, 1.8e-2 for torch), so a float32 verdict there
would judge torch's kernels, not the port: that context is float64 only
(``parity.verdict.policy.CONTEXT_RULES``).

**Scale floor.**  Some tensors are zero analytically and rounding noise
numerically (the gradient of a convolution's bias that a BatchNorm follows, and
that bias after K steps): each comparison's scale is at least ``SCALE_FLOOR``
times the largest value in its group, so noise is not compared with noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from modern_cnns.parity.verdict import checks

if TYPE_CHECKING:
    from modern_cnns.parity.verdict.checks import Check

#: the port may be this many times further off than the original's measured error or sensitivity
FACTOR = 4.0
#: float32 is never asked to be closer to float64 than this (float32 epsilon is 1.2e-7)
FLOAT32_FLOOR = 1e-6
#: float64 plain tolerance: the semantics are proven equal to ~1e-13 across the catalog
FLOAT64_RTOL = 1e-10
#: a tensor's scale is at least this fraction of the largest value in its group
SCALE_FLOOR = 1e-3
#: float32 noise of the original at which float32 stops resolving a check (about 1000 ulps)
UNRESOLVABLE = 1e-4
#: the original is rerun on this many nudged inputs at a time, when a row needs its sensitivity ...
NUDGES_PER_ROUND = 2
#: ... and up to this many in all while only gradient / post-step rows fail: a tie that one
#: framework's rounding flips is hit by about 1 nudge in 4 (AlexNet, seed 2, 3 steps: the port
#: flips a ReLU after conv 4 that 2 nudges of the original missed and 4 found).  Forward rows are
#: continuous functions of the input: more nudges cannot explain them, so they stop the search.
MAX_NUDGES = 8


@dataclass(frozen=True)
class Rule:
    """How one kind of comparison is judged."""
    kind: str              #: a :class:`~parity.verdict.checks.Check`'s ``kind``
    float32_rtol: float    #: plain tolerance in float32 (float64 uses FLOAT64_RTOL); 0 means exact
    per_tensor: bool       #: scope of the reference error and sensitivity: the tensor, or its group's worst
    reason: str


RULES = (
    Rule(checks.BEFORE_TRAINING, 0.0, True,
         "transfer copies values: the port must hold exactly the original's state"),
    Rule(checks.PREDICT_OUTPUT, 1e-5, True,
         "a forward pass is well conditioned: a few float32 ulps through the depth of the network"),
    Rule(checks.TRAIN_OUTPUT, 1e-5, True,
         "a forward pass is well conditioned: a few float32 ulps through the depth of the network"),
    Rule(checks.STATISTICS, 2e-6, True,
         "first-step running statistics come from one forward pass at the transferred weights: well "
         "conditioned, and where BatchNorm conventions (momentum, biased variance) show"),
    Rule(checks.INPUT_GRADIENT, 1e-4, True,
         "back-propagation sums many terms: more rounding than a forward pass"),
    Rule(checks.GRADIENT, 1e-4, False,
         "max-pool/ReLU near-ties make gradients ill-conditioned, and which tensors a flipped tie "
         "spoils is chance: judged against the worst of all gradients"),
    Rule(checks.AFTER_STEPS, 1e-4, False,
         "K SGD steps carry the gradients' conditioning into the weights: judged against the worst "
         "of all state"),
)
_BY_KIND = {rule.kind: rule for rule in RULES}


def rule_for(check: Check) -> Rule:
    """The rule of ``check``'s kind."""
    return _BY_KIND[check.kind]


def group_of(check: Check) -> Check | str:
    """The group whose worst error or sensitivity a check is measured against (itself if per tensor, else its
    kind)."""
    return check if rule_for(check).per_tensor else check.kind


def scope_name(check: Check) -> str:
    """How a report names the scope of a check's reference: the tensor, or its group's worst."""
    return "" if rule_for(check).per_tensor else f", worst over {check.kind}"


@dataclass(frozen=True)
class Verdict:
    """A rule's answer for one comparison: passed, on which ground, and the bound in words."""
    passed: bool
    basis: str  #: "exact", "rounding", "float64 reference", "conditioning", "float64 decides" or "none"
    text: str              #: the numbers behind it, for the report
    #: a pass on a measured ground, in words a reader takes for what it is: a float32 row accepted against
    #: float64 reads "the port is 1.21e+00 from float64, within 4x the original's own float32 error 1.94e+00",
    #: not as a bare relative difference that looks like an alarm; "" for the plain grounds
    ground: str = ""


def judge(check: Check, dtype: str, rel: float, port_err: float | None = None, orig_err: float | None = None,
          sensitivity: float | None = None, float64_passed: bool | None = None) -> Verdict:
    """Judge one comparison.

    Args:
        check: the :class:`~parity.verdict.checks.Check` (its kind selects the :class:`Rule`).
        dtype: ``"float32"`` or ``"float64"``.
        rel: relative difference port vs original.
        port_err: float32 only: the port's relative distance from the float64 result.
        orig_err: float32 only: the original's, already scoped (tensor or group worst).
        sensitivity: the original's own relative change under a one-ulp input nudge, scoped;
            ``None`` when not measured (it is measured only when the other grounds fail).
        float64_passed: float32 only: the verdict of the same check in float64, if it ran.
    """
    rule = rule_for(check)
    if not np.isfinite(rel):
        return Verdict(False, "none", "not finite")
    if rule.float32_rtol == 0.0:
        return Verdict(rel == 0.0, "exact" if rel == 0.0 else "none", "exact: " + rule.reason)
    plain = FLOAT64_RTOL if dtype == "float64" else rule.float32_rtol
    if rel <= plain:
        return Verdict(True, "rounding", f"rel <= {plain:.0e}")
    tried = [f"rel <= {plain:.0e}"]
    scope = scope_name(check)
    if dtype == "float64":
        if sensitivity is not None:
            within = rel <= FACTOR * sensitivity
            text = (f"ill-conditioned: rel {'<=' if within else '>'} {FACTOR:g} x original's own change "
                    f"{sensitivity:.1e} under a 1-ulp input nudge{scope}")
            if within:
                return Verdict(True, "conditioning", text,
                               f"within {FACTOR:g}x the original's own change {sensitivity:.2e} under a 1-ulp input "
                               f"nudge{scope} (ill-conditioned here)")
            tried.append(text)
        return Verdict(False, "none", "; ".join(tried))
    if port_err is None or orig_err is None:  # no float64 result to judge against
        return Verdict(False, "none", "; ".join(tried))
    noise = max(orig_err, sensitivity or 0.0)
    source = "1-ulp sensitivity" if (sensitivity or 0.0) > orig_err else "error"
    within = port_err <= FACTOR * max(noise, FLOAT32_FLOOR)
    floored = f" (floored at {FLOAT32_FLOOR:.0e})" if noise < FLOAT32_FLOOR else ""
    text = (f"vs float64: port {port_err:.1e} {'<=' if within else '>'} {FACTOR:g} x the original's own float32 "
            f"{source} {noise:.1e}{floored}{scope}")
    own = f"the original's own float32 {'error' if source == 'error' else 'noise (1-ulp sensitivity)'}"
    if within:
        bound = f"{own} {noise:.2e}{scope}" if not floored else \
            f"the float32 floor {FLOAT32_FLOOR:.0e} ({own} is {noise:.2e}{scope})"
        return Verdict(True, "float64 reference", text,
                       f"the port is {port_err:.2e} from float64, within {FACTOR:g}x {bound}")
    tried.append(text)
    if noise >= UNRESOLVABLE:
        text = f"float32 cannot resolve this (original's noise {noise:.1e}{scope}): the float64 check decides"
        if float64_passed:
            return Verdict(True, "float64 decides", text,
                           f"float32 cannot resolve it ({own} {noise:.2e}{scope}); the float64 check decided, "
                           "and passed")
        tried.append(text + (" and it failed" if float64_passed is False else " and it did not run"))
    return Verdict(False, "none", "; ".join(tried))


def scale_floor(arrays) -> float:
    """The scale floor of one group of tensors: ``SCALE_FLOOR`` times its largest magnitude."""
    from modern_cnns.parity.verdict.compare import max_abs

    return SCALE_FLOOR * max((max_abs(a) for a in arrays if np.size(a)), default=0.0)


def group_floors(results: dict) -> dict:
    """``{kind: floor}`` from the reference results ``{Check: array}``: a check's scale floor is set
    by the largest value among all tensors of its kind."""
    groups: dict[str, list] = {}
    for check, value in results.items():
        groups.setdefault(check.kind, []).append(value)
    return {group: scale_floor(values) for group, values in groups.items()}


def floor_for(floors: dict, check: Check) -> float:
    """The scale floor of ``check`` from :func:`group_floors`' result."""
    return floors[check.kind]
