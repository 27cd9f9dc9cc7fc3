"""Probes at larger inputs and with drawn BatchNorm state (parity.verdict.probes): range-dependent bugs show.

The pair is ``bug_corpus``'s ``fused`` one: conv-BatchNorm blocks whose ReLU runs inside the block's
forward, so a clip written there is invisible to the structural diff; on the seeded batch with fresh
BatchNorm its activations stay far below 6.  Each bug changes its layer's output by a large factor
at the probes (a clip at 6 of values in the tens; a running mean in [-1, 1) left out), so no
assertion depends on which tolerance ground a CPU reaches.
"""
import pytest

from parity_tests import bug_corpus
from parity_tests.conftest import needs_both

pytestmark = needs_both

PAIR = bug_corpus.PAIRS["fused"]


def _check(bug_name=None, dtypes=("float64",)):
    from modern_cnns.parity import check_pair

    bug = next(b for b in bug_corpus.BUGS if b.name == bug_name) if bug_name else None
    block, module = bug_corpus.build_pair(PAIR, bug)
    return check_pair(block, module, PAIR.input_shape, dtypes=dtypes)


def _probe_rows(result):
    return [r for r in result.rows if r.check.probe is not None]


def test_the_correct_port_passes_every_probe():
    result, = _check()
    rows = {str(r.check): r for r in _probe_rows(result)}
    assert set(rows) == {"predict output (input x10)", "predict output (input x30)",
                         "predict output (BatchNorm state drawn)"}
    assert all(r.passed for r in rows.values()) and result.passed, rows
    assert result.diagnosis == [] and result.first_divergence is None


@pytest.mark.parametrize("bug", ["functional clamp(0, 6) for ReLU", "functional hardtanh(0, 6) for ReLU"])
def test_a_functional_clip_passes_on_the_batch_and_fails_at_a_larger_input(bug):
    result, = _check(bug)
    failed = [str(r.check) for r in result.rows if not r.passed]
    assert not result.passed
    assert "predict output (input x10)" in failed, failed
    assert all(c.startswith("predict output (") for c in failed), failed  # nothing but the probes shows it
    assert "clips or saturates" in result.diagnosis[0], result.diagnosis
    # the clip is in the block's own forward, between its BatchNorm (which agrees) and the next layer
    block = next(b for b in bug_corpus.BUGS if b.name == bug).module
    assert result.first_divergence.startswith(f"layer {block} (gluon {block}): values part in its forward code "
                                              f"between its layer {block}.bn"), result.first_divergence
    assert result.first_divergence.endswith("(at input scale x10)"), result.first_divergence


def test_a_batchnorm_that_drops_the_running_mean_fails_with_drawn_statistics():
    result, = _check("BatchNorm without the running mean")
    failed = [str(r.check) for r in result.rows if not r.passed]
    assert failed == ["predict output (BatchNorm state drawn)"], failed
    assert "running mean" in result.diagnosis[0], result.diagnosis
    assert result.first_divergence.startswith("layer 2.bn (gluon 2.bn)"), result.first_divergence


def test_the_probes_leave_the_models_as_they_were():
    """The drawn BatchNorm state is put back: the start state of the training checks is the transferred one."""
    from modern_cnns.parity.verdict import probes
    from modern_cnns.parity.verdict.pair import Pair
    from modern_cnns.parity.weights.init import initialize_gluon
    from modern_cnns.parity.weights.state import gluon_slots, torch_slots
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block, module = bug_corpus.build_pair(PAIR)
    initialize_gluon(block, (1, *PAIR.input_shape), dtype="float64")
    module.double()
    report = gluon_to_torch(block, module)
    pair = Pair(block, module, {g: t for g, t, _ in report.mapped}, "float64")
    before_g = {n: s.read() for n, s in gluon_slots(block).items()}
    before_t = {n: s.read() for n, s in torch_slots(module)[0].items()}
    import numpy as np

    g, t, raised = probes.run(pair, np.random.default_rng(0).uniform(size=(2, *PAIR.input_shape)), seed=0)
    assert not raised and set(g) == set(t) and len(g) == 3
    assert all(np.array_equal(s.read(), before_g[n]) for n, s in gluon_slots(block).items())
    assert all(np.array_equal(s.read(), before_t[n]) for n, s in torch_slots(module)[0].items())
