"""Plain-language findings for a failed check: *what* differs between the original and the port.

A verdict says which tensors differ; a diagnosis says why, where the cause is one of the
conventions that ports get wrong:

* **BatchNorm running variance**: MXNet stores the biased batch variance, torch's stock
  BatchNorm the unbiased one.  After one step the update of ``running_var`` then differs by
  exactly ``n/(n-1)``, n the values per channel in the batch.
* **BatchNorm momentum**: Gluon's ``momentum`` weights the *old* value (0.9), torch's the *new*
  one (0.1).  Copying the number across swaps them: the update differs by ``m/(1-m)``.
* **Size-dependent pooling**: outputs that agree at one input size and not at another.

What both trees *declare* (eps, momentum, pooling, activations, dropout, ...) is compared by
:mod:`parity.verdict.structure`; :func:`diagnose` puts its differences first, being certain.

The ratios are measured from the first step's statistics: ``(port - initial) / (original - initial)``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from modern_cnns.parity.verdict import checks

if TYPE_CHECKING:
    from modern_cnns.parity.verdict.check import DtypeRun


@dataclass
class Structure:
    """What the statistics findings need to know of the original."""

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


def statistics_findings(failed: list, initial: dict, g: dict, t: dict, structure: Structure, premises=None) -> list:
    """Findings for failed ``statistics after 1 step: <slot>`` rows (``failed``: their checks).

    With Gluon's momentum m, one step writes ``m * initial + (1 - m) * batch``.  A swapped
    momentum makes the port's *update* ``(port - initial)`` m/(1-m) times the original's.  A
    different variance makes the *batch statistic* each implies, ``initial + update / (1 - m)``,
    differ by a constant ratio: n/(n-1) for torch's unbiased variance.

    ``premises`` (:class:`Premises`), when known, keep every finding true: the variance and
    float32-momentum findings only for a stock torch BatchNorm (a Gluon-exact one already has the fix),
    n only as the layer's own batch x positions, and no momentum swap where the structure says
    the momentum (the structural difference names it, told from a different value).
    """
    variance, swapped, other, rounded = [], [], [], []
    for check in failed:
        if check.tensor not in initial or check not in t:
            continue
        old, orig, port = initial[check.tensor], g[check], t[check]
        m = structure.gluon_momentum.get(check.layer, 0.9)
        update = _median_ratio(port - old, orig - old)
        if update is None:
            continue
        module = check.torch_layer if premises is not None else None
        stock = premises is None or module in premises.stock
        if any(abs(update - want) <= 0.02 * want for want in (m / (1 - m), (1 - m) / m)):
            if premises is None or not premises.momentum_known:
                swapped.append((check, update, m))
            continue
        if check.attribute.endswith("var") and stock:
            # Gluon applies its momentum as a float32 (0.9 -> 0.899999976); torch's 0.1 is exact.  At a
            # small batch variance that 2.4e-7 would otherwise hide n/(n-1) for large n.
            batch = _variance_ratio(old, orig, port, float(np.float32(m)))
            n = _as_n_over_n_minus_1(batch) if batch is not None else None
            if premises is not None and batch is not None:
                n = premises.count_for(module, batch)
            if n is not None:
                variance.append((check, batch, n))
                continue
        if 1e-9 < abs(update - 1.0) <= 1e-5 and stock:
            rounded.append(check)
        elif abs(update - 1.0) > 1e-5:
            other.append((check, update))
    out = []

    def shown(check):  # the layer, torch first, Gluon in parentheses, then the statistic
        if premises is None or check.torch_layer is None or not check.layer:
            return check.tensor
        return f"layer {check.torch_layer} (gluon {check.layer}): {check.torch_attribute}"

    if variance:
        check, r, n = variance[0]
        more = f" (and {len(variance) - 1} more BatchNorm layers, each by its own n)" if len(variance) > 1 else ""
        whose = ", that layer's batch x positions," if premises is not None else ""
        out.append(f"{shown(check)} differs by n/(n-1) with n={n}{whose} (measured ratio {r:.6g}){more}: the port "
                   "stores torch's unbiased batch variance; MXNet stores the biased one. Wrap the port with "
                   "modern_cnns.parity.use_gluon_batchnorm(module) (CLI: --gluon-batchnorm), or accept it as a "
                   "known difference (--accept unbiased-running-var).")
    if swapped:
        check, r, m = swapped[0]
        more = f" (and {len(swapped) - 1} more statistics)" if len(swapped) > 1 else ""
        out.append(f"{shown(check)}: the update differs by {r:.4g}, m/(1-m) with Gluon's momentum m={m:g}{more}: the "
                   f"port uses the other momentum convention. Gluon's momentum weights the old value, torch's "
                   f"the new one: a Gluon momentum of {m:g} is torch's {1 - m:.4g}.")
    if rounded:
        out.append(f"{shown(rounded[0])}: the first update differs in the 7th digit (and {len(rounded) - 1} "
                   "more): Gluon keeps its momentum as a float32 (0.9 is 0.899999976), torch uses the exact double. "
                   "modern_cnns.parity.use_gluon_batchnorm(module) rounds as Gluon does.")
    for check, r in other[:3] if not out and (premises is None or premises.explain_others) else ():
        out.append(f"{shown(check)}: the first update differs by a factor {r:.6g}, which is neither a variance "
                   "convention (n/(n-1)) nor a momentum swap.")
    return out


@dataclass
class Premises:
    """What a statistics finding must be true of: the port's layers as they ran (the checks name each tensor's
    torch module)."""

    stock: set                  #: torch names of stock torch BatchNorm layers
    counts: dict                #: {torch BatchNorm layer: n, the values per channel it normalised over}
    dtype: str
    momentum_known: bool        #: the structural diff read both trees' momentum
    explain_others: bool = True #: say "neither ... nor" for the rest (off when another cause is named)

    def count_for(self, module: str | None, ratio: float) -> int | None:
        """The layer's own n when ``ratio`` is its n/(n-1) (to float64's or float32's resolution), else None."""
        n = self.counts.get(module)
        if n is None or n < 2:
            return None
        resolution = 1e-9 if self.dtype == "float64" else 3e-6
        return n if abs(ratio - n / (n - 1)) <= 0.02 / (n - 1) + resolution else None


def size_findings(rows) -> list:
    """Outputs that agree at the checked size and not at another: a size-dependent layer."""
    base = next((r for r in rows if r.check == checks.PREDICT), None)
    bad = [r for r in rows if r.check.size is not None and not r.passed]
    if not bad or base is None or not base.passed:
        return []
    sizes = ", ".join(f"{r.check.size_text} (rel {r.max_rel:.2g})" for r in bad)
    return [f"outputs agree at the checked input size but not at {sizes}: a layer depends on the input size in "
            "one framework only, e.g. a fixed-size average pooling against an adaptive one."]


# --------------------------------------------------------------------------- the whole diagnosis

def diagnose(result, facts: dict, accept=()) -> list:
    """Every finding on ``result``, most certain first; fills ``result.structure`` and, where all that
    differs is accepted, ``result.known_difference``.

    Order: a known framework difference the failure looks like (not accepted); the structural
    differences (declared, so certain); statistics findings whose premises hold; a layer one tree alone
    runs (only when values differ); input-size findings; what raised; accepted differences last.
    """
    from modern_cnns.parity.verdict import known, probes, structure

    failed = [r for r in result.rows if not r.passed]
    values_fail = any(r.check.kind not in checks.STATE_KINDS for r in failed) or bool(facts.get("raised")) \
        or result.error is not None
    layers = facts.get("layers")
    diffs = structure.differences(structure.align(*layers)) if layers else []
    for d in diffs:
        d.accepted = d.name in accept
    certain = [d for d in diffs if d.certain and not d.accepted]
    unpaired = sorted((d for d in diffs if not d.certain and not d.accepted and values_fail),
                      key=lambda d: not _at_divergence(d, result.first_divergence))
    result.structure = [{"name": d.name, "text": d.text(), "certain": d.certain, "accepted": d.accepted,
                         "torch_layer": d.torch_layer, "where": structure.both_names(*d.layers[0])}
                        for d in diffs if d.certain or values_fail or result.error]
    counts = {}
    for layer in (layers[1] if layers else []):
        if layer.kind == "batchnorm" and len(layer.in_shape) >= 2:
            counts[layer.name] = int(np.prod(layer.in_shape)) // int(layer.in_shape[1])
    premises = Premises(facts.get("stock_batchnorm", set()), counts, result.dtype,
                        momentum_known=layers is not None,
                        explain_others=not certain and not unpaired and not result.first_divergence)
    out = _framework_hints(result, layers, accept, known)
    out += [d.text() for d in certain]
    if facts.get("structure") is not None:
        out += statistics_findings([r.check for r in failed if r.check.kind == checks.STATISTICS],
                                   facts["initial"], facts.get("g", {}), facts.get("t", {}), facts["structure"],
                                   premises)
    out += [d.text() for d in unpaired]
    out += size_findings(result.rows)
    out += probes.findings(result.rows)
    out += [f"{check}: {why}" for check, why in facts.get("raised", {}).items()]
    accepted = [d for d in diffs if d.accepted]
    out += [f"KNOWN DIFFERENCE (accepted {d.name}): {d.text()}" for d in accepted]
    _accept_known(result, accept, known, out, accepted, layers)
    return out


def _at_divergence(difference, divergence: str | None) -> bool:
    """Is one of ``difference``'s layers the first diverging one?  Of the layers one tree alone runs, that
    one comes first: the others may be run functionally by the other tree (a pooling in an attention unit)."""
    match = re.match(r"layer (\S+) \(gluon (\S+?)\)", divergence or "")
    return match is not None and any((t is not None and t.name == match[1]) or (g is not None and g.name == match[2])
                                     for g, t in difference.layers)


def _framework_hints(result, layers, accept, known) -> list:
    """A known framework difference the failure looks like: float64 only, a layer it concerns, tiny outputs."""
    if result.dtype != "float64" or not layers:
        return []
    types = {layer.attrs.get("type") for layer in layers[0] if layer.kind == "activation"}
    forward = [r for r in result.rows if r.check in (checks.PREDICT, checks.TRAIN) and not r.passed]
    if not forward or max(r.max_rel for r in forward) > 1e-5:
        return []
    return [f"known framework difference {d.name}: {d.fact} (measured: {d.evidence}); the original has such "
            f"layers: if this is all that differs, accept it (--accept {d.name})"
            for d in known.FRAMEWORK_DIFFERENCES.values() if d.layer in types and d.name not in accept]


def _accept_known(result, accept, known, out, accepted, layers) -> None:
    """``result.known_difference`` when what differs is exactly what ``accept`` names."""
    failed = [r.check for r in result.rows if not r.passed]
    reasons = [f"accepted {d.name}" for d in accepted]
    types = {layer.attrs.get("type") for layer in layers[0] if layer.kind == "activation"} if layers else set()
    reasons += [f"{d.name} ({d.fact}): the port rounds as the original's kernel does"
                for d in known.FRAMEWORK_DIFFERENCES.values() if d.name in accept and d.layer in types]
    for name in accept:
        convention = known.CONVENTIONS.get(name)
        if convention is None or not failed:
            continue
        rows_ok = all(c in convention.rows for c in failed)
        if rows_ok and any(convention.finding in line for line in out):
            reasons.append(f"{name}: {convention.reason}")
            failed = []
    if reasons and not failed and result.error is None:
        result.known_difference = "; ".join(reasons)


# --------------------------------------------------------------------------- the facts of a pair
def stock_batchnorm(module) -> set:
    """Names of the port's stock torch BatchNorm layers (torch's own variance and momentum conventions)."""
    from torch import nn

    return {name for name, mod in module.named_modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)}


def diagnose_run(result, run: DtypeRun, accept=()) -> list:
    """Findings on what differs (:func:`diagnose`) in one dtype's run; structural ones even on a pass."""
    return diagnose(result, {**run.facts, "g": run.original, "t": run.port}, accept)


def diagnose_unchecked(result, subject, dtype, x) -> list:
    """The structural findings of a pair whose checks could not run (a shape one framework refuses)."""
    from modern_cnns.parity.verdict.pair import Pair
    from modern_cnns.parity.verdict.structure import capture_pair

    try:
        pair = subject.make_pair(dtype, dropout=True)
    except Exception:  # not even paired (a refused transfer): the structure of the two models as they are
        if subject.make_models is None:
            return []
        try:
            block, module = subject.make_models(dtype)
            pair = Pair(block, module, {}, dtype, result.device)
        except Exception:
            return []
    facts = {"layers": capture_pair(pair, x), "stock_batchnorm": stock_batchnorm(pair.module), "raised": {}}
    found = diagnose(result, facts, subject.accept)
    missing = _missing_layer(pair) if (result.error or "").startswith("TransferError") else None
    if missing is not None:  # the refusal's cause, before the structure of trees that no longer align
        result.first_divergence = missing
        return [missing, *found]
    if (result.first_divergence or "").startswith("(could not localise") and result.structure:
        first = next((d for d in result.structure if d["certain"]), result.structure[0])
        result.first_divergence = f"layer {first['where']}: {first['text'].split(':')[0]} (the pair could not be " \
                                  f"checked: {result.error.splitlines()[0]})"
    return found


def _missing_layer(pair):
    """:func:`parity.verdict.pairing.missing_layer`'s text for a refused transfer, or None."""
    from modern_cnns.parity.verdict.pairing import missing_layer

    try:
        found = missing_layer(pair.block, pair.module)
    except Exception:  # a diagnosis aid: never hide the verdict behind its failure
        return None
    return None if found is None else found[2]
