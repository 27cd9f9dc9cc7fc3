"""The porting-bug corpus: every bug is caught, localised to its module, and its cause is named first.

Only the bugs on the small pairs run here (1-4 s each); ``benchmarks/score_diagnosis.py`` scores
the whole corpus, zoo pairs included.  Every bug asserted here changes its layer's output far
beyond any tolerance (or is a declared attribute that values cannot show), so no assertion
depends on which tolerance ground a CPU reaches.
"""
import re

import pytest

from parity_tests import bug_corpus
from parity_tests.conftest import needs_both

pytestmark = needs_both

SMALL = ("mini", "lenet", "lenet_d2l", "bn_lenet_concise", "leaky", "fused")

#: what the diagnosis cannot say yet, each with the reason (strict: a fix makes the test fail, to be moved)
NOT_YET: dict = {}

_REQUIRED = {"batchnorm eps", "momentum value", "momentum convention", "variance convention", "affine off",
             "conv stride", "conv padding", "conv dilation", "conv groups", "conv bias", "pooling type",
             "pooling kernel", "pooling stride", "pooling padding", "ceil_mode", "count_include_pad",
             "global vs fixed pooling", "relu6", "hard sigmoid", "gelu approximation", "leakyrelu slope",
             "flatten order", "missing layer", "extra layer", "dropout rate", "dropout position", "stride position",
             "transposed weight"}


def test_the_corpus_covers_what_issue_22_asks_for():
    assert len(bug_corpus.BUGS) >= 40 and len({b.pair for b in bug_corpus.BUGS}) >= 8
    assert _REQUIRED <= {b.cause for b in bug_corpus.BUGS}
    assert all(b.cause in bug_corpus.CAUSES and b.pair in bug_corpus.PAIRS for b in bug_corpus.BUGS)
    assert len({b.name for b in bug_corpus.BUGS}) == len(bug_corpus.BUGS)


def _check(pair, block, module):
    from modern_cnns.parity import check_pair

    try:
        result, = check_pair(block, module, pair.input_shape, dtypes=(pair.dtype,), **pair.options)
    except Exception as err:  # a refusal is a catch, but it must say where and why
        pytest.fail(f"check_pair raised {type(err).__name__}: {err}")
    return result


@pytest.mark.parametrize("name", [p for p in SMALL])
def test_a_correct_small_port_passes_with_nothing_to_say(name):
    pair = bug_corpus.PAIRS[name]
    result = _check(pair, *bug_corpus.build_pair(pair))
    assert result.passed, ([r.check for r in result.rows if not r.passed], result.diagnosis)
    assert result.first_divergence is None and result.diagnosis == [] and result.structure == []


def _params():
    for bug in bug_corpus.BUGS:
        if bug.pair in SMALL:
            marks = [pytest.mark.xfail(strict=True, reason=NOT_YET[bug.name])] if bug.name in NOT_YET else []
            yield pytest.param(bug, id=bug.name, marks=marks)


def _named(text, module):
    """The torch module a statement names first ("layer X (gluon Y)", "in layer X", "in N layers: X, ...")."""
    names = {name for name, _ in module.named_modules() if name}
    for match in re.finditer(r"(?:layer |layers: )([\w.]+)", text):
        if match.group(1) in names:
            return match.group(1)
    return None


@pytest.mark.parametrize("bug", _params())
def test_a_bug_is_caught_localised_and_its_cause_named_first(bug):
    pair = bug_corpus.PAIRS[bug.pair]
    block, module = bug_corpus.build_pair(pair, bug)
    result = _check(pair, block, module)
    said = [s for s in [result.first_divergence, *result.diagnosis] if s]
    assert not result.passed, said
    first = next((s for s in said if _named(s, module)), None)
    assert first is not None and _named(first, module) == bug.module, said
    assert result.diagnosis and re.search(bug_corpus.CAUSES[bug.cause], result.diagnosis[0], re.I), said


def test_the_first_shape_difference_is_the_divergence_named_with_both_shapes():
    pair = bug_corpus.PAIRS["mini"]
    bug = next(b for b in bug_corpus.BUGS if b.name == "ceil_mode")
    result = _check(pair, *bug_corpus.build_pair(pair, bug))
    assert result.first_divergence.startswith("layer 7 (gluon 7): output shape torch (2, 16, 9, 9), "
                                              "gluon (2, 16, 8, 8)"), result.first_divergence


def test_a_structural_difference_is_one_line_for_all_its_layers():
    from modern_cnns.parity import check_pair

    pair = bug_corpus.PAIRS["mini"]
    block, module = bug_corpus.build_pair(pair)
    module[1].epsilon = module[5].epsilon = 1e-3
    result, = check_pair(block, module, pair.input_shape, dtypes=("float64",))
    eps = [line for line in result.diagnosis if "eps" in line]
    assert eps == ["BatchNorm eps: torch 0.001, gluon 1e-05, in 2 layers: 1 (gluon 1), 5 (gluon 5)"], \
        result.diagnosis


def test_a_layer_in_one_framework_only_is_never_reported_on_a_passing_pair():
    """gluoncv2's SE pools functionally inside its block, pytorchcv's with a module: 9 layers torch alone runs."""
    pair = bug_corpus.PAIRS["gluoncv2_seresnet20"]
    result = _check(pair, *bug_corpus.build_pair(pair))
    assert result.passed and result.first_divergence is None and result.diagnosis == [], result.diagnosis


def test_a_missing_se_gate_that_shifts_a_positional_transfer_is_named_as_the_missing_layer():
    """pytorchcv's SE-ResNet-20 with one SE gate left out as an Identity: the positional transfer is refused
    (every later tensor shifts); the refusal's cause is the parameter-free module where Gluon has the gate."""
    bug = next(b for b in bug_corpus.BUGS if b.name == "SE gate missing")
    pair = bug_corpus.PAIRS[bug.pair]
    result = _check(pair, *bug_corpus.build_pair(pair, bug))
    assert result.error is not None and result.error.startswith("TransferError")
    assert result.first_divergence.startswith("layer features.stage2.unit1.se (gluon features.2.0.se): missing "
                                              "layer"), result.first_divergence
    assert result.diagnosis[0] == result.first_divergence
