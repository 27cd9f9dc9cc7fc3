"""The parity checker: does the torch port compute what the Gluon original computes?

For one network, build its :class:`~parity.verdict.pair.Pair` (the Gluon block
initialised once, Xavier, seeded; its state moved to the torch port),
trace the same probe batch and the same K training batches through both, and
compare, tensor by tensor:

* ``predict output``: Gluon outside ``autograd.record()``, torch in ``eval()``; and again, forward only,
  at input scale x10 and x30 and with drawn BatchNorm state (:mod:`parity.verdict.probes`: where a
  clip or a saturation shows);
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
execution order and value) and names the first torch layer whose output diverges.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from modern_cnns.parity.frameworks import configure_torch_for_parity
from modern_cnns.parity.verdict import checks, diagnosis, policy, probes, supplied, tolerance
from modern_cnns.parity.verdict.checks import Check
from modern_cnns.parity.verdict.compare import diff
from modern_cnns.parity.verdict.contract import reraise_if_single_example
from modern_cnns.parity.verdict.diagnosis import stock_batchnorm
from modern_cnns.parity.verdict.localise import localise_failures, localise_subject, with_localised_finding
from modern_cnns.parity.verdict.memory import reraise_if_memory
from modern_cnns.parity.verdict.outputs import first
from modern_cnns.parity.verdict.pair import (
    STATISTICS,
    Pair,
    build_gluon,
    predict_gluon,
    predict_torch,
    trace_gluon,
    zero_dropout_gluon,
)
from modern_cnns.parity.verdict.structure import capture_pair, read_structure
from modern_cnns.parity.weights.state import gluon_slots

if TYPE_CHECKING:
    import torch


@dataclass
class Row:
    """One comparison: the check (:class:`~parity.verdict.checks.Check`, printed by its name), its differences,
    the bound it was held to, its verdict and why."""
    check: Check
    max_abs: float
    max_rel: float
    tolerance: str
    passed: bool
    basis: str = "none"  #: why it is trusted: a ground of :func:`parity.verdict.tolerance.judge`, or "none"
    ground: str = ""     #: a pass on a measured ground in words (:attr:`parity.verdict.tolerance.Verdict.ground`)

    def to_dict(self) -> dict:
        """The row as data, its check by name (the reports' JSON)."""
        return {**asdict(self), "check": str(self.check)}


@dataclass
class Result:
    """Every comparison of one pair in one dtype, with the first diverging layer and the diagnosis."""
    network: str
    device: str
    dtype: str
    steps: int
    rows: list = field(default_factory=list)
    first_divergence: str | None = None
    error: str | None = None
    seconds: float = 0.0
    #: plain-language findings on what differs (:mod:`parity.verdict.diagnosis`)
    diagnosis: list = field(default_factory=list)
    #: set when all that differs is a known difference (of the course, :data:`policy.KNOWN_DIFFERENCES`, or
    #: accepted with ``accept=``)
    known_difference: str | None = None
    #: structural differences (:mod:`parity.verdict.structure`): ``{"name", "text", "certain", "accepted",
    #: "torch_layer"}``; a certain one that is not accepted fails the check
    structure: list = field(default_factory=list)
    #: the per-layer report (:func:`parity.verdict.layers.table`), the same for every dtype of one pair
    layers: list = field(default_factory=list)
    #: ``{probe check: why}``: probes not run, as no verdict could come of them (:func:`parity.verdict.probes.run`)
    skipped_probes: dict = field(default_factory=dict)

    @property
    def passed(self):
        """No error, no structural difference but accepted ones, and every row passed or is part of a known
        difference."""
        structural = any(d["certain"] and not d["accepted"] for d in self.structure)
        return self.error is None and not structural and \
            (self.known_difference is not None or all(r.passed for r in self.rows))

    def worst(self):
        failed = [r for r in self.rows if not r.passed]
        return max(failed or self.rows, key=lambda r: r.max_rel, default=None)

    def to_dict(self):
        """The result as data: rows name their checks (as the reports print them), not their fields."""
        plain = replace(self, rows=[], skipped_probes={})  # asdict cannot key a dict by a Check
        return {**asdict(plain), "rows": [row.to_dict() for row in self.rows],
                "skipped_probes": {str(k): v for k, v in self.skipped_probes.items()}, "passed": self.passed}


# --------------------------------------------------------------------------- what is checked
@dataclass
class Subject:
    """What the checker checks: one Gluon original and its port, rebuildable in any dtype.

    Attributes:
        name: how reports name it.
        sample_shape: one sample's input shape, e.g. ``(1, 28, 28)``.
        num_classes: the width of the output (labels are drawn below it).
        make_pair: ``make_pair(dtype, dropout=False) -> Pair``, the same initial weights on every call;
            dropout off unless ``dropout=True`` (the checker reads the trees' structure from such a
            pair, then zeroes its dropout with :meth:`Pair.zero_dropout`).
        make_gluon: ``make_gluon(dtype) -> block``, the original alone, as ``make_pair`` builds it.
        extra_shapes: further sample shapes at which prediction outputs are compared too.
        accept: names of known differences to report as such (:mod:`parity.verdict.known`).
    """

    name: str
    sample_shape: tuple
    num_classes: int
    make_pair: Callable
    make_gluon: Callable
    extra_shapes: tuple = ()
    accept: tuple = ()
    #: ``make_models(dtype) -> (block, module)`` without a transfer: the structure of a pair whose
    #: transfer is refused (a conv's groups, a missing block) can still be read from it
    make_models: Callable[[str], tuple[Any, torch.nn.Module]] | None = None


def make_batches(sample_shape, num_classes, batch_size, steps, seed=policy.SEED, inputs=None):
    """K training batches (the first is also the probe): inputs in [0, 1), labels 0..classes-1.

    ``inputs`` (a checked array, :mod:`parity.verdict.supplied`): every batch is that array, with labels
    drawn from the seed for each step (``batch_size`` is then its length).
    """
    rng = np.random.default_rng(seed)
    if inputs is not None:
        return [(inputs, rng.integers(0, num_classes, size=len(inputs))) for _ in range(steps)]
    return [(rng.uniform(size=(batch_size, *sample_shape)), rng.integers(0, num_classes, size=batch_size))
            for _ in range(steps)]


def _registry_subject(entry, device, tamper, seed, gluon_params=None) -> Subject:
    def make_pair(dtype, dropout=False):
        pair = Pair.from_entry(entry, dtype, device, seed=seed, gluon_params=gluon_params)
        if tamper is not None:
            tamper(pair.module)
        return pair if dropout else pair.zero_dropout()

    def make_gluon(dtype):
        block = build_gluon(entry, dtype, device, seed=seed, gluon_params=gluon_params)
        zero_dropout_gluon(block)
        return block

    return Subject(entry.name, tuple(entry.input_shape), entry.num_classes, make_pair, make_gluon)


def _predict_at(pair: Pair, sample_shape, seed) -> tuple:
    """Prediction outputs of both frameworks on one batch of ``sample_shape`` (before any training)."""
    x = np.random.default_rng(seed + 104729).uniform(size=(2, *sample_shape))
    # the first output (the logits) of a model returning several: :mod:`parity.verdict.outputs`
    return (first(predict_gluon(pair.block, x, pair.dtype, pair.device)),
            first(predict_torch(pair.module, x, pair.dtype, pair.device)))


@dataclass
class DtypeRun:
    """What one dtype's run of a pair leaves for the verdict and the diagnosis.

    Attributes:
        original: ``{Check: value}``, the Gluon original's results.
        port: ``{Check: value}``, the torch port's results (the checks whose shapes agree).
        before: ``{Check: Diff or None}``, the start state's differences (``before training: ...``).
        facts: what :func:`parity.verdict.diagnosis.diagnose` reads: ``initial`` statistics, ``raised``
            (checks one framework could not run), ``structure``, ``layers``, ``measured``, ``stock_batchnorm``
            (each check names its tensor in both trees).
    """

    original: dict
    port: dict
    before: dict
    facts: dict


def _run_pair(subject: Subject, dtype, batches, seed, layer_reference=None, skipped_probes=None) -> DtypeRun:
    """The original's and the port's results, the start-state diffs and the facts for the diagnosis, for one
    dtype.

    ``layer_reference``: the float64 run's per-layer measurement, which the float32 one is measured against
    (``facts["measured"]``, :mod:`parity.verdict.layers`); ``skipped_probes``: the float64 run's skipped
    probes, skipped here too (float32 is judged against float64), and those skipped here (``facts["skipped"]``)."""
    # built with dropout as declared, to read the structure, then zeroed: one pair, not a second
    # one for the structure (on VGG-11 a float64 pair costs ~8 s)
    pair = subject.make_pair(dtype, dropout=True)
    structure = read_structure(pair)
    layers = capture_pair(pair, batches[0][0], keep=True)
    measured = _measure_layers(dtype, layers, layer_reference)  # the outputs are dropped before the trace
    pair.zero_dropout()
    before = pair.start_state()
    initial = {name: slot.read() for name, slot in gluon_slots(pair.block).items() if slot.kind in STATISTICS}
    g, t, raised = {}, {}, {}
    for shape in subject.extra_shapes:
        check = Check.predict_at(shape)
        try:
            g[check], t[check] = _predict_at(pair, shape, seed)
            if g[check].shape != t[check].shape:
                raised[check] = f"output shape gluon {g[check].shape}, torch {t[check].shape}"
                del g[check], t[check]
        except Exception as err:  # a size one framework cannot take: a failing row, not a crash
            reraise_if_memory(err)
            raised[check] = f"{type(err).__name__}: {err}"
            g.pop(check, None)
    # forward only, before training moves the state: clipping and saturation (parity.verdict.probes)
    skipped = dict(skipped_probes or {})
    probed_g, probed_t, probe_raised = probes.run(pair, batches[0][0], seed, skipped)
    g.update(probed_g)
    t.update(probed_t)
    raised.update(probe_raised)
    traced_g, traced_t = pair.trace(batches, policy.LR)
    for check in [c for c in traced_g if c in traced_t and np.shape(traced_g[c]) != np.shape(traced_t[c])]:
        raised[check] = f"shape gluon {np.shape(traced_g[check])}, torch {np.shape(traced_t[check])}"
        del traced_g[check], traced_t[check]
    g.update(traced_g)
    t.update(traced_t)
    return DtypeRun(g, t, before, {"initial": initial, "raised": raised, "structure": structure, "layers": layers,
                                   "measured": measured, "skipped": skipped,
                                   "stock_batchnorm": stock_batchnorm(pair.module)})


def nudge_rng(seed):
    """The generator of the nudges for a check seeded with ``seed`` (apart from the batches' own)."""
    return np.random.default_rng(seed + 7919)


def nudge(x, dtype, rng):
    """``x`` in ``dtype``, every element moved by one ulp up or down at random.

    A zero moves by one ulp of the batch's largest magnitude (of 1 in an all-zero batch), not by its own:
    the ulp of 0 is the smallest denormal, which the first product or sum absorbs (and oneDNN flushes), so
    an all-zero batch would measure the original as perfectly insensitive and fail a correct port."""
    x = np.asarray(x).astype(dtype)
    up = rng.random(x.shape) >= 0.5
    moved = np.nextafter(x, np.where(up, np.inf, -np.inf).astype(dtype))
    step = np.spacing(np.abs(x).max(initial=0.0) or x.dtype.type(1))
    return np.where(x == 0, np.where(up, step, -step), moved)


def sensitivity(subject: Subject, dtype, device, batches, reference, seed, nudges=tolerance.NUDGES_PER_ROUND,
                rng=None):
    """The original's own relative change, per check, when every input value moves by one ulp.

    Reruns the Gluon original ``nudges`` times on nudged copies of ``batches`` (same
    weights: ``subject.make_gluon`` rebuilds them), its probes on the nudged probe batch included
    (:func:`parity.verdict.probes.original_outputs`), and returns ``{check: worst relative change}``
    against ``reference`` (its unnudged run), scales floored as in :mod:`parity.verdict.tolerance`.
    Pass the same ``rng`` to draw further nudges in later rounds.
    """
    rng = rng if rng is not None else nudge_rng(seed)
    floors = tolerance.group_floors(reference)
    probed = {check.probe for check in reference if check.probe is not None}  # the probes the check ran
    worst: dict = {}
    for _ in range(nudges):
        block = subject.make_gluon(dtype)
        nudged = [(nudge(x, dtype, rng), y) for x, y in batches]
        # the probes first, forward only, as _run_pair runs them: before training moves the state
        run = probes.original_outputs(block, nudged[0][0], seed, dtype, device, probed) if probed else {}
        run.update(trace_gluon(block, nudged, dtype, device, policy.LR))
        for check, value in run.items():
            if check not in reference:  # a check whose shapes differ between the trees: not compared
                continue
            change = diff(str(check), value, reference[check], tolerance.floor_for(floors, check)).max_rel
            worst[check] = max(worst.get(check, 0.0), change)
    return worst


def check_network(entry, device="cpu", dtypes=("float32", "float64"), steps=2, batch_size=None, tamper=None,
                  seed=policy.SEED, inputs=None, gluon_params=None):
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
        inputs: an array ``(N, *entry.input_shape)``, the batch of every check instead of the seeded
            draws (labels are still drawn); ``batch_size`` must then be None or N.
        gluon_params: a ``.params`` file of the Gluon original's trained weights, loaded with
            ``load_parameters`` after the Xavier initialisation (:mod:`parity.verdict.supplied`).

    Returns:
        ``[Result]``, in the order of ``dtypes``.
    """
    from modern_cnns.parity.verdict.contract import check_network_arguments
    from modern_cnns.parity.verdict.supplied import check_supplied

    inputs = check_supplied(entry, inputs, gluon_params, batch_size, device)
    if inputs is not None:
        batch_size = len(inputs)
    check_network_arguments(entry, device=device, dtypes=dtypes, steps=steps, batch_size=batch_size, seed=seed)
    subject = _registry_subject(entry, device, tamper, seed, gluon_params)
    results = run_checks(subject, device, dtypes, steps, batch_size or policy.settings_for(entry.name).batch_size,
                         seed, inputs)
    known = policy.KNOWN_DIFFERENCES.get(entry.name)
    if known is None:
        return results
    for result in results:
        failed = [r.check for r in result.rows if not r.passed]
        explained = all(c in known.checks for c in failed)
        if result.error is None and failed and explained and any(known.finding in d for d in result.diagnosis):
            result.known_difference = known.reason
    return results


def run_checks(subject: Subject, device="cpu", dtypes=("float32", "float64"), steps=2, batch_size=4,
               seed=policy.SEED, inputs=None):
    """Every check of ``subject`` (see :func:`check_network` for the arguments); one Result per dtype."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    from modern_cnns.parity.frameworks import ensure_threads

    ensure_threads()
    if device == "gpu":
        configure_torch_for_parity()
    batches = make_batches(subject.sample_shape, subject.num_classes, batch_size, steps, seed=seed, inputs=inputs)
    if inputs is not None:  # a user's inputs beyond a dtype's range: refused before any work
        supplied.refuse_out_of_range(inputs, dtypes)
    runs: dict[str, DtypeRun | None] = {}
    judged: dict = {}
    results: list = []
    measured: dict = {}  # {dtype: parity.verdict.layers.Measured}: the per-layer report's numbers
    probe_skips: dict = {}  # {dtype: {probe check: why}}: float32 skips what float64 skipped (its reference)
    for dtype in ("float64", "float32"):
        if dtype not in dtypes and not (dtype == "float64" and "float32" in dtypes):
            continue
        start = time.perf_counter()
        try:
            run = runs[dtype] = _run_pair(subject, dtype, batches, seed, measured.get("float64"),
                                          probe_skips.get("float64"))
        except Exception as err:
            reraise_if_memory(err)  # not enough memory is no verdict on the port
            reraise_if_single_example(err)  # nor is a one-example batch that torch's BatchNorm refuses
            runs[dtype] = None
            if dtype in dtypes:
                result = Result(subject.name, device, dtype, steps, error=f"{type(err).__name__}: {err}")
                result.first_divergence, _ = localise_subject(subject, dtype, batches[0][0], False)
                result.diagnosis = diagnosis.diagnose_unchecked(result, subject, dtype, batches[0][0])
                result.seconds = time.perf_counter() - start
                results.append(result)
            continue
        if inputs is not None:  # NaN against NaN is no verdict on the port
            supplied.refuse_non_finite_original(run.original, dtype)
        measured[dtype] = run.facts["measured"]
        probe_skips[dtype] = run.facts["skipped"]
        # float64 is judged even when only float32 was asked for: float32 rows may defer to it
        rng = nudge_rng(seed)
        result = judged[dtype] = _judge(subject.name, device, dtype, steps, runs,
                                        partial(sensitivity, subject, dtype, device, batches, run.original, seed,
                                                rng=rng),
                                        float64=judged.get("float64"))
        if dtype in dtypes:
            finding = localise_failures(subject, dtype, batches[0][0], result, seed)
            result.diagnosis = diagnosis.diagnose_run(result, run, subject.accept)
            with_localised_finding(result, finding)
            result.skipped_probes = probe_skips[dtype]
            result.seconds = time.perf_counter() - start
            results.append(result)
        # float32 needs only the original's float64 run: the rest is dropped (memory)
        run = runs[dtype] = DtypeRun(run.original, {}, {}, {})
    return _with_layer_report(sorted(results, key=lambda r: list(dtypes).index(r.dtype)), measured)


def _measure_layers(dtype, captured, reference):
    """The per-layer report's numbers for one dtype (:func:`parity.verdict.layers.measure`); None on failure."""
    from modern_cnns.parity.verdict import layers

    try:
        return layers.measure(dtype, captured, reference)
    except Exception as err:  # a report aid: never hide the verdict behind its failure
        reraise_if_memory(err)
        return None


def _with_layer_report(results, measured):
    """``results``, each given the pair's per-layer report (one table: both dtypes' numbers)."""
    from modern_cnns.parity.verdict import layers

    rows = layers.table(measured)
    for result in results:
        result.layers = rows
    return results


def _scoped_worst(values: dict) -> dict:
    """``{check: value}`` -> ``{group: worst}``, groups as :func:`tolerance.group_of` scopes them."""
    worst: dict = {}
    for check, value in values.items():
        group = tolerance.group_of(check)
        worst[group] = max(worst.get(group, 0.0), value)
    return worst


def _judge(name, device, dtype, steps, runs: dict[str, DtypeRun | None], measure_sensitivity, float64=None):
    """One :class:`Row` per check of the original; sensitivity is measured only if a row needs it.

    ``measure_sensitivity()`` returns the original's change under a further round of nudges.

    ``float64``: the float64 :class:`Result` of the same pair, which float32 rows that float32
    cannot resolve defer to.
    """
    run = runs[dtype]
    assert run is not None  # judged only after its run succeeded
    reference = runs.get("float64") if dtype == "float32" else None
    truth = reference.original if reference is not None else None
    floors = tolerance.group_floors(run.original)
    diffs, port_errs = _diffs(run, truth, floors)
    passed64 = {row.check: row.passed for row in float64.rows} if float64 is not None else {}
    verdicts = partial(_verdicts, dtype, diffs, port_errs, _originals_error(run.original, truth, floors), passed64)
    result = Result(name, device, dtype, steps)
    result.rows = _rows(run, diffs, _nudge_until_explained(verdicts, measure_sensitivity))
    return result


def _distance_from_float64(check, value, truth: dict, floors: dict) -> float:
    """``value``'s relative distance from the float64 original's ``truth[check]``, on the check's scale floor."""
    return diff(str(check), value, truth[check], tolerance.floor_for(floors, check)).max_rel


def _originals_error(original: dict, truth: dict | None, floors: dict) -> dict:
    """``{group: worst}`` distance of the float32 original from the float64 one (ground 3 of
    :mod:`parity.verdict.tolerance`: the port may be as far off as the original is); empty without a float64 run
    (float64 itself, or a float64 run that failed)."""
    if truth is None:
        return {}
    return _scoped_worst({c: _distance_from_float64(c, original[c], truth, floors) for c in original})


def _diffs(run: DtypeRun, truth: dict | None, floors: dict) -> tuple[dict, dict]:
    """``({check: Diff}, {check: the port's distance from float64 or None})`` for every compared check.

    The start state's diffs come first (a check whose state one framework lacks has none: it is not
    compared, and :func:`_rows` reports it absent), then every check the port ran too, on its group's scale
    floor. The start state has no float64 distance: it is judged exactly.
    """
    diffs = {check: d for check, d in run.before.items() if d is not None}
    port_errs = dict.fromkeys(diffs)
    for check, expected in run.original.items():
        if check in run.port:
            diffs[check] = diff(str(check), run.port[check], expected, tolerance.floor_for(floors, check))
            port_errs[check] = _distance_from_float64(check, run.port[check], truth, floors) \
                if truth is not None else None
    return diffs, port_errs


def _verdicts(dtype, diffs: dict, port_errs: dict, orig_worst: dict, passed64: dict, sens: dict | None) -> dict:
    """``{check: tolerance.Verdict}`` with the original's sensitivity ``sens`` (``{group: worst}``), or None
    while it is not measured (no row has needed it yet)."""
    out = {}
    for check, d in diffs.items():
        group = tolerance.group_of(check)
        out[check] = tolerance.judge(check, dtype, d.max_rel, port_errs[check], orig_worst.get(group),
                                     None if sens is None else sens.get(group, 0.0), passed64.get(check))
    return out


def _nudge_until_explained(verdicts: Callable[[dict | None], dict], measure_sensitivity) -> dict:
    """The verdicts once no further round of nudges can explain a failing row.

    Rerunning the original on nudged inputs is costly, so it starts only when a row fails on no ground, and
    goes on ``tolerance.NUDGES_PER_ROUND`` at a time up to ``tolerance.MAX_NUDGES``: a near-tie that one
    framework's rounding flips is hit by only some nudges. A failing ``before training`` row starts no
    nudging: the transfer is judged exactly. Once one round is measured, a per-tensor (forward) row that
    still fails stops the search: its own sensitivity is measured, a forward pass is a continuous function
    of its input so further nudges find no tie to flip for it, and the result fails on that row whatever
    more rounds would explain elsewhere.
    """
    judged, nudged = verdicts(None), 0
    sens: dict = {}
    while nudged < tolerance.MAX_NUDGES:
        failing = [c for c, v in judged.items()
                   if not v.passed and v.basis == "none" and c.kind != checks.BEFORE_TRAINING]
        if not failing or (nudged and any(tolerance.rule_for(c).per_tensor for c in failing)):
            break  # all explained, or a forward row fails: tie flips cannot explain it
        for check, change in measure_sensitivity().items():
            sens[check] = max(sens.get(check, 0.0), change)
        nudged += tolerance.NUDGES_PER_ROUND
        judged = verdicts(_scoped_worst(sens))
    return judged


def _rows(run: DtypeRun, diffs: dict, judged: dict) -> list[Row]:
    """The report's rows, in the original's order: the start state, then every check the original ran
    (one the port lacks fails as "present in both"), then the checks one framework could not run at all."""
    rows = []
    for check in [*run.before, *run.original]:
        if check not in diffs:
            rows.append(Row(check, float("nan"), float("nan"), "present in both", False))
            continue
        d, v = diffs[check], judged[check]
        rows.append(Row(check, d.max_abs, d.max_rel, v.text, v.passed, v.basis, v.ground))
    for check in run.facts["raised"] if run.facts else ():
        rows.append(Row(check, float("nan"), float("nan"), "runs in both", False))
    return rows
