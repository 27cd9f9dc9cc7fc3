"""Plain-language findings for a failed check: *what* differs between the original and the port.

A verdict says which tensors differ; a diagnosis says why, where the cause is one of the
conventions that ports get wrong:

* **BatchNorm running variance**: MXNet stores the biased batch variance, torch's stock
  BatchNorm the unbiased one.  After one step the update of ``running_var`` then differs by
  exactly ``n/(n-1)``, n the values per channel in the batch.
* **BatchNorm momentum**: Gluon's ``momentum`` weights the *old* value (0.9), torch's the *new*
  one (0.1).  Copying the number across swaps them: the update differs by ``m/(1-m)``.
* **BatchNorm eps**, read from both trees.
* **Dropout**, compared by structure (rate, and the layer it follows), since its values cannot be.
* **Size-dependent pooling**: outputs that agree at one input size and not at another.

The ratios are measured from the first step's statistics: ``(port - initial) / (original - initial)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Structure:
    """What the two trees declare, paired through the transfer's name map."""

    #: ``[(torch layer, gluon eps, torch eps)]`` for every paired BatchNorm
    batchnorm_eps: list = field(default_factory=list)
    #: ``[(layer it follows, rate)]`` per tree, in registration order, torch names for both
    gluon_dropout: list = field(default_factory=list)
    torch_dropout: list = field(default_factory=list)
    #: Gluon BatchNorm momentum per Gluon layer (Gluon's convention: the weight of the old value)
    gluon_momentum: dict = field(default_factory=dict)


def _median_ratio(num, den) -> float | None:
    keep = np.abs(den) > 1e-9 * max(np.abs(den).max(initial=0.0), 1e-300)
    return float(np.median(num[keep] / den[keep])) if keep.any() else None


def _variance_ratio(old, orig, port, m32: float) -> float | None:
    """c in ``port = old + a * (c * var_b - old)``: the port's batch variance over Gluon's, whatever its momentum a.

    Gluon's own batch variance per channel is known exactly from its update,
    ``var_b = old + (orig - old) / (1 - m32)`` (Gluon applies its momentum as a float32).  The port's
    momentum is not assumed (stock torch's 0.1, or ``1 - m32`` from a careful conversion): over the
    channels, ``port - old`` is linear in ``var_b`` and ``old`` with slopes ``a * c`` and ``-a``.
    """
    var_b = old + (orig - old) / (1 - m32)
    X = np.stack([var_b.ravel(), old.ravel()], axis=1).astype(np.float64)
    if X.shape[0] < 3 or np.ptp(var_b) <= 1e-12 * max(np.abs(var_b).max(), 1e-300):
        return _median_ratio(old + (port - old) / (1 - m32), var_b)
    (ac, minus_a), *_ = np.linalg.lstsq(X, (port - old).ravel().astype(np.float64), rcond=None)
    return float(-ac / minus_a) if minus_a else None


def _as_n_over_n_minus_1(r: float) -> int | None:
    """n where r = n/(n-1) for an integer n >= 2, else None."""
    if r <= 1.0 + 1e-9:
        return None
    n = r / (r - 1.0)
    return int(round(n)) if round(n) >= 2 and abs(n - round(n)) <= max(0.05, 0.005 * n) else None


def statistics_findings(failed: list, initial: dict, g: dict, t: dict, structure: Structure) -> list:
    """Findings for failed ``statistics after 1 step: <slot>`` rows (``failed``: their check names).

    With Gluon's momentum m, one step writes ``m * initial + (1 - m) * batch``.  A swapped
    momentum makes the port's *update* ``(port - initial)`` m/(1-m) times the original's.  A
    different variance makes the *batch statistic* each implies, ``initial + update / (1 - m)``,
    differ by a constant ratio: n/(n-1) for torch's unbiased variance.
    """
    prefix = "statistics after 1 step: "
    variance, swapped, other, rounded = [], [], [], []
    for check in failed:
        slot = check[len(prefix):]
        if slot not in initial or check not in t:
            continue
        old, orig, port = initial[slot], g[check], t[check]
        layer, kind = slot.rsplit(".", 1) if "." in slot else ("", slot)
        m = structure.gluon_momentum.get(layer, 0.9)
        update = _median_ratio(port - old, orig - old)
        if update is None:
            continue
        if any(abs(update - want) <= 0.02 * want for want in (m / (1 - m), (1 - m) / m)):
            swapped.append((slot, update, m))
            continue
        if kind.endswith("var"):
            # Gluon applies its momentum as a float32 (0.9 -> 0.899999976); torch's 0.1 is exact.  At a
            # small batch variance that 2.4e-7 would otherwise hide n/(n-1) for large n.
            batch = _variance_ratio(old, orig, port, float(np.float32(m)))
            n = _as_n_over_n_minus_1(batch) if batch is not None else None
            if n is not None:
                variance.append((slot, batch, n))
                continue
        if 1e-9 < abs(update - 1.0) <= 1e-5:
            rounded.append(slot)
        elif abs(update - 1.0) > 1e-5:
            other.append((slot, update))
    out = []
    if variance:
        slot, r, n = variance[0]
        more = f" (and {len(variance) - 1} more BatchNorm layers, each by its own n)" if len(variance) > 1 else ""
        out.append(f"{slot} differs by n/(n-1) with n={n} (measured ratio {r:.6g}){more}: the port stores "
                   "torch's unbiased batch variance; MXNet stores the biased one. Wrap the port with "
                   "modern_cnns.parity.use_gluon_batchnorm(module) (CLI: --gluon-batchnorm), or accept it as a "
                   "known difference.")
    if swapped:
        slot, r, m = swapped[0]
        more = f" (and {len(swapped) - 1} more statistics)" if len(swapped) > 1 else ""
        out.append(f"{slot}: the update differs by {r:.4g}, m/(1-m) with Gluon's momentum m={m:g}{more}: the "
                   f"port uses the other momentum convention. Gluon's momentum weights the old value, torch's "
                   f"the new one: a Gluon momentum of {m:g} is torch's {1 - m:.4g}.")
    if rounded:
        out.append(f"{rounded[0]}: the first update differs in the 7th digit (and {len(rounded) - 1} more): Gluon "
                   "keeps its momentum as a float32 (0.9 is 0.899999976), torch uses the exact double. "
                   "modern_cnns.parity.use_gluon_batchnorm(module) rounds as Gluon does.")
    for slot, r in other[:3]:
        out.append(f"{slot}: the first update differs by a factor {r:.6g}, which is neither a variance "
                   "convention (n/(n-1)) nor a momentum swap.")
    return out


def eps_findings(structure: Structure) -> list:
    """BatchNorm layers whose eps differs between the two trees."""
    return [f"BatchNorm eps differs at {layer}: gluon {ge:g}, torch {te:g}."
            for layer, ge, te in structure.batchnorm_eps if not np.isclose(ge, te, rtol=1e-6, atol=0.0)]


def dropout_findings(structure: Structure) -> list:
    """Dropout layers whose rate or position differs (compared by structure)."""
    g, t = structure.gluon_dropout, structure.torch_dropout
    if g == t:
        return []

    def show(drops):
        return ", ".join(f"p={rate:g} after {after or 'the input'}" for after, rate in drops) or "none"

    return [f"dropout differs (the checks run with it off, so only its structure is compared): gluon {show(g)}; "
            f"torch {show(t)}."]


def size_findings(rows) -> list:
    """Outputs that agree at the checked size and not at another: a size-dependent layer."""
    base = next((r for r in rows if r.check == "predict output"), None)
    bad = [r for r in rows if r.check.startswith("predict output at ") and not r.passed]
    if not bad or base is None or not base.passed:
        return []
    sizes = ", ".join(f"{r.check[len('predict output at '):]} (rel {r.max_rel:.2g})" for r in bad)
    return [f"outputs agree at the checked input size but not at {sizes}: a layer depends on the input size in "
            "one framework only, e.g. a fixed-size average pooling against an adaptive one."]
