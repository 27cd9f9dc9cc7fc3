"""The parity checker: does the torch port compute what the Gluon original computes?

For one network, build its :class:`~parity.verdict.pair.Pair` (the Gluon block
initialised once, Xavier, seeded; its state moved to the torch port by name),
trace the same probe batch and the same K training batches through both, and
compare, tensor by tensor:

* ``predict output``: Gluon outside ``autograd.record()``, torch in ``eval()``;
* ``train output``, ``input gradient`` and ``gradient of <param>`` for every
  parameter, of the summed softmax cross-entropy: Gluon inside ``record()``,
  torch in ``train()``;
* ``after K steps: <name>``: every parameter, running statistic and moving
  statistic after K SGD steps (Gluon's ``Trainer.step(batch_size)`` on the
  summed loss, torch's ``SGD`` on the mean loss: the same update).

Dropout draws from independent RNGs in the two frameworks, so for networks with
dropout the training checks run with the dropout rate set to 0 in both (the
prediction check is unaffected: dropout is off there anyway).

Verdicts follow :mod:`parity.verdict.tolerance`.  When an output or gradient fails, the
checker compares per-layer activations (forward hooks on both trees, paired by
structural name) and names the first layer whose output diverges.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np

from modern_cnns.parity.frameworks import configure_torch_for_parity
from modern_cnns.parity.verdict import policy, tolerance
from modern_cnns.parity.verdict.compare import diff
from modern_cnns.parity.verdict.pair import Pair, build_gluon, trace_gluon, zero_dropout_gluon


@dataclass
class Row:
    check: str
    max_abs: float
    max_rel: float
    tolerance: str
    passed: bool
    basis: str = "none"  #: why it is trusted: a ground of :func:`parity.verdict.tolerance.judge`, or "none"


@dataclass
class Result:
    network: str
    device: str
    dtype: str
    steps: int
    rows: list = field(default_factory=list)
    first_divergence: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self):
        return self.error is None and all(r.passed for r in self.rows)

    def worst(self):
        failed = [r for r in self.rows if not r.passed]
        return max(failed or self.rows, key=lambda r: r.max_rel, default=None)

    def to_dict(self):
        return {**asdict(self), "passed": self.passed}


# --------------------------------------------------------------------------- inputs
def make_batches(entry, batch_size, steps, seed=policy.SEED):
    """K training batches (the first is also the probe): images in [0, 1), labels 0..classes-1."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(size=entry.batch_shape(batch_size)), rng.integers(0, entry.num_classes, size=batch_size))
            for _ in range(steps)]


# --------------------------------------------------------------------------- one network
def _pair(entry, dtype, device, tamper, seed) -> Pair:
    """The Gluon network and its torch twin, same weights, dropout off in both for training checks."""
    pair = Pair.from_entry(entry, dtype, device, seed=seed)
    if tamper is not None:
        tamper(pair.module)
    if entry.dropout:
        pair.zero_dropout()
    return pair


def _run_pair(entry, dtype, device, batches, tamper, seed):
    """(original's results, port's results, start-state diffs) for one dtype."""
    pair = _pair(entry, dtype, device, tamper, seed)
    before = pair.start_state()
    g, t = pair.trace(batches, policy.LR)
    return g, t, before


def nudge_rng(seed):
    """The generator of the nudges for a check seeded with ``seed`` (apart from the batches' own)."""
    return np.random.default_rng(seed + 7919)


def nudge(x, dtype, rng):
    """``x`` in ``dtype``, every element moved by one ulp up or down at random."""
    x = np.asarray(x).astype(dtype)
    return np.nextafter(x, np.where(rng.random(x.shape) < 0.5, -np.inf, np.inf).astype(dtype))


def sensitivity(entry, dtype, device, batches, reference, seed, nudges=tolerance.NUDGES_PER_ROUND, rng=None):
    """The original's own relative change, per check, when every input value moves by one ulp.

    Reruns the Gluon original ``nudges`` times on nudged copies of ``batches`` (same
    weights: the build is seeded) and returns ``{check: worst relative change}``
    against ``reference`` (its unnudged run), scales floored as in :mod:`parity.verdict.tolerance`.
    Pass the same ``rng`` to draw further nudges in later rounds.
    """
    rng = rng if rng is not None else nudge_rng(seed)
    floors = tolerance.group_floors(reference)
    worst = {}
    for _ in range(nudges):
        block = build_gluon(entry, dtype, device, seed=seed)
        if entry.dropout:
            zero_dropout_gluon(block)
        run = trace_gluon(block, [(nudge(x, dtype, rng), y) for x, y in batches], dtype, device, policy.LR)
        for check, value in run.items():
            change = diff(check, value, reference[check], tolerance.floor_for(floors, check)).max_rel
            worst[check] = max(worst.get(check, 0.0), change)
    return worst


def _localise(entry, dtype, device, x, train, tamper, seed):
    """Rebuild the pair (deterministic: same seed) and find the first diverging layer."""
    rtol = tolerance.FLOAT64_RTOL if dtype == "float64" else policy.LOCALISE_FLOAT32_RTOL
    try:
        return _pair(entry, dtype, device, tamper, seed).first_divergence(x, train, rtol)
    except Exception as err:  # localisation is a diagnosis: never hide the verdict behind its failure
        return f"(could not localise: {type(err).__name__}: {err})"


def check_network(entry, device="cpu", dtypes=("float32", "float64"), steps=2, batch_size=None, tamper=None,
                  seed=policy.SEED):
    """Run every check for a registry ``entry``; return one :class:`Result` per requested dtype.

    Args:
        entry: a :class:`~modern_cnns.parity.catalog.registry.Entry`.
        device: ``"cpu"`` or ``"gpu"``.
        dtypes: the dtypes to report.  float32 verdicts need the float64 run as reference,
            so float64 always runs when float32 is asked for.
        steps: K, the SGD steps both frameworks take (at least 1).
        batch_size: samples per batch; None for the network's row in :mod:`parity.verdict.policy`.
        tamper: ``tamper(module)``, if given, is applied to each torch model right after the
            transfer: the tests use it to break a port on purpose.
        seed: draws the weights (MXNet's Xavier) and the batches.

    Returns:
        ``[Result]``, in the order of ``dtypes``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    from modern_cnns.parity.frameworks import ensure_threads

    ensure_threads()
    if device == "gpu":
        configure_torch_for_parity()
    batches = make_batches(entry, batch_size or policy.settings_for(entry.name).batch_size, steps, seed=seed)
    runs, judged, results = {}, {}, []
    for dtype in ("float64", "float32"):
        if dtype not in dtypes and not (dtype == "float64" and "float32" in dtypes):
            continue
        start = time.perf_counter()
        try:
            runs[dtype] = _run_pair(entry, dtype, device, batches, tamper, seed)
        except Exception as err:
            runs[dtype] = None
            if dtype in dtypes:
                result = Result(entry.name, device, dtype, steps, error=f"{type(err).__name__}: {err}")
                result.first_divergence = _localise(entry, dtype, device, batches[0][0], False, tamper, seed)
                result.seconds = time.perf_counter() - start
                results.append(result)
            continue
        # float64 is judged even when only float32 was asked for: float32 rows may defer to it
        rng = nudge_rng(seed)
        result = judged[dtype] = _judge(entry, device, dtype, steps, runs,
                                        partial(sensitivity, entry, dtype, device, batches, runs[dtype][0], seed,
                                                rng=rng),
                                        float64=judged.get("float64"))
        runs[dtype] = (runs[dtype][0], None, None)  # float32 needs only the original's float64 run
        if dtype in dtypes:
            failed = [r.check for r in result.rows if not r.passed]
            if any(tolerance.kind_of(c) not in ("after steps", "statistics after 1 step", "before training")
                   for c in failed):
                train = "predict output" not in failed
                result.first_divergence = _localise(entry, dtype, device, batches[0][0], train, tamper, seed)
            result.seconds = time.perf_counter() - start
            results.append(result)
    return sorted(results, key=lambda r: list(dtypes).index(r.dtype))


def _scoped_worst(values: dict) -> dict:
    """``{check: value}`` -> ``{group: worst}``, groups as :func:`tolerance.group_of` scopes them."""
    worst = {}
    for check, value in values.items():
        group = tolerance.group_of(check)
        worst[group] = max(worst.get(group, 0.0), value)
    return worst


def _judge(entry, device, dtype, steps, runs, measure_sensitivity, float64=None):
    """One :class:`Row` per check of the original; sensitivity is measured only if a row needs it.

    ``measure_sensitivity()`` returns the original's change under a further round of nudges.

    ``float64``: the float64 :class:`Result` of the same pair, which float32 rows that float32
    cannot resolve defer to.
    """
    g, t, before = runs[dtype]
    truth = runs.get("float64") if dtype == "float32" else None
    truth = truth[0] if truth is not None else None
    result = Result(entry.name, device, dtype, steps)
    floors = tolerance.group_floors(g)

    def floor(check):
        return tolerance.floor_for(floors, check)

    def err(check, value):  # distance from the float64 result
        return diff(check, value, truth[check], floor(check)).max_rel

    orig_worst = _scoped_worst({c: err(c, g[c]) for c in g}) if truth is not None else {}
    diffs = {check: d for check, d in before.items() if d is not None}
    port_errs = dict.fromkeys(diffs)
    for check, expected in g.items():
        if check in t:
            diffs[check] = diff(check, t[check], expected, floor(check))
            port_errs[check] = err(check, t[check]) if truth is not None else None

    passed64 = {row.check: row.passed for row in float64.rows} if float64 is not None else {}

    def verdicts(sens):
        out = {}
        for check, d in diffs.items():
            group = tolerance.group_of(check)
            out[check] = tolerance.judge(check, dtype, d.max_rel, port_errs[check], orig_worst.get(group),
                                         None if sens is None else sens.get(group, 0.0), passed64.get(check))
        return out

    judged, sens, nudged = verdicts(None), {}, 0
    while nudged < tolerance.MAX_NUDGES:
        failing = [c for c, v in judged.items()
                   if not v.passed and v.basis == "none" and tolerance.kind_of(c) != "before training"]
        if not failing or (nudged and any(tolerance.rule_for(c).per_tensor for c in failing)):
            break  # all explained, or a forward row fails: tie flips cannot explain it
        for check, change in measure_sensitivity().items():
            sens[check] = max(sens.get(check, 0.0), change)
        nudged += tolerance.NUDGES_PER_ROUND
        judged = verdicts(_scoped_worst(sens))
    for check in [*before, *g]:
        if check not in diffs:
            result.rows.append(Row(check, float("nan"), float("nan"), "present in both", False))
            continue
        d, v = diffs[check], judged[check]
        result.rows.append(Row(check, d.max_abs, d.max_rel, v.text, v.passed, v.basis))
    return result
