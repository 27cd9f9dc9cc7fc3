"""Probes that reach the ranges where layers clip or saturate: larger inputs, drawn BatchNorm state.

The checker's batch is uniform in [0, 1), its weights Xavier and its BatchNorm fresh (gamma 1,
beta 0, running mean 0, running variance 1).  Activations then stay within a few units, so a
port that clips where the original does not (``torch.clamp(x, 0, 6)`` or a ReLU6 where Gluon has
a ReLU, written functionally inside a block, where the structural diff cannot see it) computes the
same values; and a hand-written BatchNorm that ignores the running mean, or adds beta before
scaling by gamma, agrees with the original at exactly the fresh state.

So the prediction outputs are compared once more per probe, forward only, in prediction mode (a
train-mode BatchNorm would normalise the scale away), on the same weights:

* ``predict output (input x10)`` and ``(input x30)``: the probe batch scaled, so that
  pre-activations reach tens (past ReLU6's 6, hard sigmoid's +-3, a tanh's saturation);
* ``predict output (BatchNorm state drawn)``: every BatchNorm's gamma, beta, running mean and
  running variance drawn from the seed, set on the Gluon side and moved to the port through the
  transfer's own name pairing (so both frameworks hold the same values), then put back.  A
  gamma or beta that the original never trains (``scale=False``, ``center=False``) is left as is.

They are held to the tolerance of ``predict output`` (the rule is chosen by the check's kind,
:mod:`parity.verdict.tolerance`; the probe is a field of the :class:`~parity.verdict.checks.Check`):
nothing is loosened.  A probe costs one forward pass per framework and dtype; ``benchmarks/probes.py``
prints the added time.
"""
from __future__ import annotations

import numpy as np

from modern_cnns.parity.verdict.checks import PREDICT, Probe

#: input scales beyond the batch itself: Xavier layers then reach pre-activations of ~10 to ~100
SCALES = (10.0, 30.0)
#: every probe, in the order they are tried: the input scales, mildest first, then the drawn BatchNorm state
PROBES = (*(Probe(scale=s) for s in SCALES), Probe(batchnorm=True))
#: BatchNorm slots by their last name part: Gluon's built-in layer and the course's scratch layer
_GAMMA, _BETA = ("gamma",), ("beta",)
_MEAN, _VAR = ("running_mean", "moving_mean"), ("running_var", "moving_var")
#: where the drawn BatchNorm values come from (apart from the batches' and the nudges' generators)
_SEED_OFFSET = 15485863


def probes_for(block) -> list:
    """The probes of a Gluon ``block``: every scale, and the drawn BatchNorm state if it has BatchNorm."""
    return [p for p in PROBES if not p.batchnorm or batchnorm_slots(block)]


def batchnorm_slots(block) -> list:
    """Gluon slot names of BatchNorm state that a trained model holds: gamma and beta where trained,
    the running (or the scratch layer's moving) statistics."""
    from modern_cnns.parity.weights.state import gluon_params, gluon_slots

    params = gluon_params(block)
    out = []
    for name in gluon_slots(block):
        last = name.rsplit(".", 1)[-1]
        if last in _GAMMA + _BETA and name in params and params[name].grad_req == "null":
            continue  # scale=False / center=False: Gluon keeps it at its initial value, whatever is stored
        if last in _GAMMA + _BETA + _MEAN + _VAR:
            out.append(name)
    return out


def draw_batchnorm_state(block, seed: int) -> dict:
    """``{gluon slot: values}``: gamma in [0.5, 1.5), beta and running mean in [-1, 1), running variance
    in [0.5, 2): far from the fresh 1, 0, 0, 1, and with a gain per layer near 1, so that a deep network's
    activations neither explode nor vanish."""
    from modern_cnns.parity.weights.state import gluon_slots

    rng = np.random.default_rng(seed + _SEED_OFFSET)
    slots = gluon_slots(block)
    ranges = {**dict.fromkeys(_GAMMA, (0.5, 1.5)), **dict.fromkeys(_BETA + _MEAN, (-1.0, 1.0)),
              **dict.fromkeys(_VAR, (0.5, 2.0))}
    out = {}
    for name in batchnorm_slots(block):
        low, high = ranges[name.rsplit(".", 1)[-1]]
        slot = slots[name]
        out[name] = rng.uniform(low, high, size=slot.shape).astype(slot.dtype)
    return out


class BatchNormState:
    """``with BatchNormState(block, values, module, names):`` the Gluon ``block`` (and the torch ``module``, if
    given) hold ``values`` (Gluon names), and get their own state back on exit.  The torch side is written
    through the transfer's pairing ``names`` (``{gluon name: torch name}``)."""

    def __init__(self, block, values: dict, module=None, names: dict | None = None):
        self.block, self.module, self.names, self.values = block, module, names or {}, values
        self.saved: list = []

    def __enter__(self):
        from modern_cnns.parity.weights.state import gluon_slots, torch_slots

        gslots = gluon_slots(self.block)
        tslots = torch_slots(self.module)[0] if self.module is not None else {}
        for gname, value in self.values.items():
            targets = [gslots[gname]]
            tname = self.names.get(gname)
            if tname in tslots:
                targets.append(tslots[tname])
            for slot in targets:
                self.saved.append((slot, slot.read()))
                slot.write(value.reshape(slot.shape).astype(slot.dtype))
        return self

    def __exit__(self, *exc):
        import mxnet as mx

        for slot, value in reversed(self.saved):
            slot.write(value)
        mx.nd.waitall()
        return False


def _drawn_state(pair, seed: int) -> BatchNormState:
    """Both trees of ``pair`` holding the BatchNorm state drawn from ``seed``."""
    return BatchNormState(pair.block, draw_batchnorm_state(pair.block, seed), pair.module, pair.names)


def original_outputs(block, x, seed: int, dtype: str, device: str, wanted) -> dict:
    """``{check: array}`` of the Gluon original alone under the probes in ``wanted`` (a set of
    :class:`~parity.verdict.checks.Probe`), on probe batch ``x``, its state unchanged.

    The original's own sensitivity (:func:`parity.verdict.check.sensitivity`) reruns this on nudged
    inputs: at x30 a deep network without normalisation in prediction mode can be chaotic (measured:
    gluoncv2's 1202-layer DIA-PreResNet moves by 8e-3 under a one-ulp nudge at x30 in float64, by
    2e-15 at x1), and a correct port then differs by as much; without it a probe had no conditioning
    ground, and such a port failed as one that "clips or saturates"."""
    from modern_cnns.parity.verdict import outputs
    from modern_cnns.parity.verdict.pair import predict_gluon

    out = {}
    for probe in probes_for(block):
        if probe not in wanted:
            continue
        if probe.batchnorm:
            with BatchNormState(block, draw_batchnorm_state(block, seed)):
                value = predict_gluon(block, x, dtype, device)
        else:
            value = predict_gluon(block, np.asarray(x) * probe.scale, dtype, device)
        out.update(outputs.named(probe.check, value))
    return out


def _outputs(pair, x) -> tuple:
    """(Gluon's, torch's) prediction outputs on numpy ``x``."""
    from modern_cnns.parity.verdict.pair import predict_gluon, predict_torch

    return (predict_gluon(pair.block, x, pair.dtype, pair.device),
            predict_torch(pair.module, x, pair.dtype, pair.device))


def run(pair, x, seed: int, skipped: dict | None = None) -> tuple:
    """``(gluon {check: array}, torch {check: array}, raised {check: why})`` of every probe on the probe
    batch ``x``, the pair's state unchanged (prediction mode moves no statistic).

    ``skipped``: ``{check: why}`` of the probes not to run (the float64 run's skips, which float32's judge reads
    as its reference), filled with the probes skipped here (:func:`out_of_range`, :func:`original_not_finite`)."""
    from modern_cnns.parity.verdict import outputs
    from modern_cnns.parity.verdict.memory import reraise_if_memory

    g, t, raised = {}, {}, {}
    skipped = {} if skipped is None else skipped
    for probe in probes_for(pair.block):
        why = skipped.get(probe.check) or (None if probe.batchnorm else out_of_range(x, probe.scale, pair.dtype))
        if why:
            skipped[probe.check] = why
            continue
        try:
            if probe.batchnorm:
                with _drawn_state(pair, seed):
                    go, to = _outputs(pair, x)
            else:
                go, to = _outputs(pair, np.asarray(x) * probe.scale)
        except Exception as err:  # a probe one framework cannot run: a failing row, not a crash
            reraise_if_memory(err)
            raised[probe.check] = f"{type(err).__name__}: {err}"
            continue
        gn, tn = outputs.named(probe.check, go), outputs.named(probe.check, to)
        why = original_not_finite(gn, pair.dtype, _where(probe))
        if why:
            skipped[probe.check] = why
            continue
        for check in gn:
            if check in tn and np.shape(gn[check]) != np.shape(tn[check]):
                raised[check] = f"output shape gluon {np.shape(gn[check])}, torch {np.shape(tn[check])}"
            elif check in tn:
                g[check], t[check] = gn[check], tn[check]
    return g, t, raised


def out_of_range(x, scale: float, dtype: str) -> str | None:
    """Why input ``x`` scaled by ``scale`` cannot be a probe in ``dtype``, or None: it leaves the dtype's range
    (the user's ``--inputs`` near 1e37 in float32), so both frameworks would compare infinities, not layers."""
    largest = float(np.abs(np.asarray(x)).max(initial=0.0)) * scale
    limit = float(np.finfo(dtype).max)
    if largest > limit:
        return f"the input x{scale:g} reaches {largest:.3g}, beyond {dtype}'s largest value {limit:.3g}"
    return None


def original_not_finite(named_outputs: dict, dtype: str, where: str) -> str | None:
    """Why a probe whose original output is not finite is no check, or None: the original overflows at this
    scale, so a NaN against a NaN would read as a port that clips."""
    if all(np.isfinite(value).all() for value in named_outputs.values()):
        return None
    return f"the original's own {dtype} output is not finite at {where}"


def failing(rows) -> Probe | None:
    """The first probe that fails while the plain prediction output passes (its mildest scale first), else None."""
    base = next((r for r in rows if r.check == PREDICT), None)
    if base is None or not base.passed:
        return None
    bad = {r.check.probe for r in rows if r.check.probe is not None and not r.passed}
    return next((probe for probe in PROBES if probe in bad), None)


def localise(pair, x, probe: Probe, seed: int, rtol: float):
    """The first diverging layer (:func:`parity.verdict.localise.localise`) under ``probe``, prediction mode."""
    from modern_cnns.parity.verdict.localise import localise as first_layer

    if probe.batchnorm:
        with _drawn_state(pair, seed):
            found = first_layer(pair, x, False, rtol)
    else:
        found = first_layer(pair, np.asarray(x) * probe.scale, False, rtol)
    if found is not None:
        found.text = f"{found.text} (at {_where(probe)})"
    return found


def _where(probe: Probe) -> str:
    return "the drawn BatchNorm state" if probe.batchnorm else f"input scale x{probe.scale:g}"


def findings(rows) -> list:
    """What the probes show when the plain prediction output agrees and a probe does not."""
    base = next((r for r in rows if r.check == PREDICT), None)
    if base is None or not base.passed:
        return []
    bad = [r for r in rows if r.check.probe is not None and not r.passed]
    out = []
    scaled = [r for r in bad if not r.check.probe.batchnorm]
    if scaled:
        where = ", ".join(f"{r.check.probe} (rel {r.max_rel:.2g})" for r in scaled)
        out.append(f"outputs agree on the probe batch but not at larger inputs: {where}: a layer clips or saturates "
                   "in one framework only (a clamp or ReLU6 where the original has a ReLU, a hard sigmoid for a "
                   "sigmoid), which the probe batch's small activations never reach")
    state = [r for r in bad if r.check.probe.batchnorm]
    if state:
        out.append(f"outputs agree with fresh BatchNorm state but not with drawn gamma, beta and running statistics "
                   f"(rel {state[0].max_rel:.2g}): the port uses a BatchNorm's gamma, beta, running mean or running "
                   "variance differently in prediction mode (a hand-written BatchNorm that drops the running mean, "
                   "or adds beta before scaling by gamma), which gamma 1, beta 0, mean 0, variance 1 hide")
    return out
