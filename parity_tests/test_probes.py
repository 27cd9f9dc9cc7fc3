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


def _chaotic_at_scale_pair():
    """``z + sin(1e14 * relu(z - 5)**2)`` of ``z = dense(x)``: at the batch (``|z| < 4``) the sine term is 0 and
    the pair is as plain as a Dense layer; at x10 and x30 its phase is ~1e17, which one ulp of ``z`` moves by
    tens of radians: the original is chaotic there, its own sensitivity O(1).  The port is the same function
    with ``z`` one ulp off (``* (1 + 2**-52)``), a rounding difference by construction on every CPU."""
    import torch
    from mxnet.gluon import HybridBlock, nn

    class Original(HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = nn.Dense(3, in_units=4)

        def hybrid_forward(self, F, x):
            z = self.dense(x.reshape((0, -1)))
            return z + F.sin(1e14 * F.square(F.relu(z - 5)))

    class Port(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = torch.nn.Linear(4, 3)

        def forward(self, x):
            z = self.dense(x.flatten(1)) * (1 + 2 ** -52)
            return z + torch.sin(1e14 * torch.relu(z - 5) ** 2)

    return Original(), Port()


def test_a_probe_where_the_original_itself_is_chaotic_passes_on_its_measured_sensitivity():
    """A probe judged without the original's sensitivity failed a correct port of a deep network: gluoncv2's
    1202-layer DIA-PreResNet moves by 8e-3 under a one-ulp nudge at x30 in float64 (its prediction-mode
    activations grow without bound), pytorchcv's port differed by 4e-3, and the check said "a layer clips or
    saturates in one framework only"."""
    from modern_cnns.parity import check_pair

    block, module = _chaotic_at_scale_pair()
    result, = check_pair(block, module, (1, 2, 2), dtypes=("float64",), steps=1)
    rows = {str(r.check): r for r in _probe_rows(result)}
    assert rows["predict output (input x30)"].max_rel > 1e-3, rows  # the port really differs there
    assert rows["predict output (input x30)"].passed and rows["predict output (input x30)"].basis == "conditioning"
    assert result.passed and result.diagnosis == [], (result.diagnosis, [r for r in result.rows if not r.passed])
