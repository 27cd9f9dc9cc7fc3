"""Checks are typed values (parity.verdict.checks): every kind renders the name the reports print, the rules
are looked up by kind, and a check that would not render cannot be built."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modern_cnns.parity.verdict import checks, tolerance
from modern_cnns.parity.verdict.checks import Check, CheckSet, Probe

#: one check of every kind and form, and the name the reports have always printed for it (written by hand)
NAMES = [
    (Check.before_training("0.weight"), "before training: 0.weight"),
    (checks.PREDICT, "predict output"),
    (Probe(scale=10.0).check, "predict output (input x10)"),
    (Probe(scale=30.0).check, "predict output (input x30)"),
    (Probe(scale=2.5).check, "predict output (input x2.5)"),
    (Probe(batchnorm=True).check, "predict output (BatchNorm state drawn)"),
    (Probe(scale=10.0).check.at_output((1,)), "predict output (input x10)[1]"),
    (Check.predict_at((1, 14, 14)), "predict output at 1x14x14"),
    (checks.PREDICT.at_output((0,)), "predict output[0]"),
    (checks.PREDICT.at_output(("logits",)), "predict output['logits']"),
    (checks.TRAIN, "train output"),
    (checks.TRAIN.at_output(("aux", 2)), "train output['aux'][2]"),
    (Check.statistics("3.bn1.running_var"), "statistics after 1 step: 3.bn1.running_var"),
    (checks.INPUT_GRAD, "input gradient"),
    (Check.gradient_of("features.0.conv.weight"), "gradient of features.0.conv.weight"),
    (Check.after(2, "1.moving_var"), "after 2 steps: 1.moving_var"),
    (Check.after(1, "0.bias"), "after 1 steps: 0.bias"),  # the reports' wording, kept for JSON readers
]


@pytest.mark.parametrize("check,name", NAMES, ids=[n for _, n in NAMES])
def test_every_kind_renders_the_name_the_reports_print(check, name):
    assert str(check) == name
    assert f"{check}" == name  # as report.py formats it


def test_every_kind_is_rendered_and_judged_by_a_rule_of_its_own():
    assert {c.kind for c, _ in NAMES} == set(checks.KINDS)
    assert tuple(rule.kind for rule in tolerance.RULES) == checks.KINDS
    for check, _ in NAMES:
        assert tolerance.rule_for(check).kind == check.kind


def test_rules_are_looked_up_by_kind_not_by_name():
    """A tensor whose name reads like another kind's prefix is judged by its own kind."""
    tricky = Check.gradient_of("after 2 steps: x")  # a name no port has, but a prefix match would misjudge it
    assert tolerance.rule_for(tricky).kind == "gradient" and not tolerance.rule_for(tricky).per_tensor
    assert tolerance.rule_for(Check.before_training("predict output")).float32_rtol == 0.0
    assert tolerance.group_of(Check.after(3, "0.weight")) == "after steps"
    assert tolerance.group_of(checks.INPUT_GRAD) == checks.INPUT_GRAD  # per tensor: its own group
    assert tolerance.scope_name(Check.gradient_of("0.weight")) == ", worst over gradient"
    assert tolerance.scope_name(checks.TRAIN) == ""


@pytest.mark.parametrize("make", [
    lambda: Check("gradient of"),                                # not a kind
    lambda: Check(checks.GRADIENT),                              # a gradient of no tensor
    lambda: Check(checks.PREDICT_OUTPUT, tensor="0.weight"),     # an output with a tensor
    lambda: Check(checks.AFTER_STEPS, "0.weight"),               # after how many steps?
    lambda: Check(checks.AFTER_STEPS, "0.weight", step=0),
    lambda: Check(checks.STATISTICS, "1.running_var", step=2),  # statistics are read after the first step
    lambda: Check(checks.GRADIENT, "0.weight", step=1),
    lambda: Check(checks.TRAIN_OUTPUT, probe=Probe(scale=10.0)),  # probes are of the prediction only
    lambda: Check(checks.PREDICT_OUTPUT, probe=Probe(scale=10.0), size=(1, 8, 8)),
    lambda: Check(checks.PREDICT_OUTPUT, size=()),
    lambda: Check.predict_at((1, 8, 8)).at_output((1,)),
    lambda: Check(checks.INPUT_GRADIENT, output=(0,)),
    lambda: Check(checks.INPUT_GRADIENT, torch_tensor="conv.weight"),
    lambda: Probe(),                                             # probes nothing
    lambda: Probe(scale=10.0, batchnorm=True),
])
def test_a_check_that_would_not_render_cannot_be_built(make):
    with pytest.raises(ValueError):
        make()


def test_the_torch_name_is_carried_but_is_not_the_checks_identity():
    """The original's results know no torch name: they and the port's must key the same checks."""
    ported = Check.after(2, "1.running_var", "features.1.running_var")
    plain = Check.after(2, "1.running_var")
    assert ported == plain and hash(ported) == hash(plain) and {plain: 1}[ported] == 1
    assert str(ported) == str(plain) == "after 2 steps: 1.running_var"
    assert (ported.layer, ported.attribute) == ("1", "running_var")
    assert (ported.torch_layer, ported.torch_attribute) == ("features.1", "running_var")
    assert plain.torch_layer is None and Check.gradient_of("w", "w").torch_layer is None  # a model's own tensor
    assert plain.paired({"1.running_var": "bn.running_var"}).torch_tensor == "bn.running_var"
    assert plain.paired({}).torch_tensor is None and checks.TRAIN.paired({"x": "y"}) is checks.TRAIN


def test_a_known_difference_matches_checks_on_their_fields():
    allowed = CheckSet((checks.STATISTICS, checks.AFTER_STEPS), ("running_var", "running_mean"))
    assert Check.statistics("1.running_var") in allowed
    assert Check.after(5, "features.3.running_mean") in allowed
    assert Check.before_training("1.running_var") not in allowed     # the start state must still agree
    assert Check.gradient_of("1.running_var") not in allowed
    assert Check.after(2, "1.moving_var") not in allowed              # another attribute
    assert Check.after(2, "1.running_var_extra") not in allowed
    assert "statistics after 1 step: 1.running_var" not in allowed  # a name is not a check
    from modern_cnns.parity.verdict import known, policy

    assert Check.after(2, "9.running_var") in known.CONVENTIONS["unbiased-running-var"].rows
    assert Check.statistics("1.running_mean") in policy.KNOWN_DIFFERENCES["bn_lenet_concise_d2l_stock"].checks


def test_the_probes_are_tried_mildest_first_and_name_themselves():
    from modern_cnns.parity.verdict import probes

    assert [str(p) for p in probes.PROBES] == ["input x10", "input x30", "BatchNorm state drawn"]
    assert all(p.check.probe is p for p in probes.PROBES)


def test_a_result_serialises_its_checks_by_name():
    from modern_cnns.parity.verdict.check import Result, Row

    result = Result("lenet", "cpu", "float64", 2, rows=[Row(Check.after(2, "0.weight"), 1.0, 0.5, "rel <= 1e-10",
                                                            False)])
    row, = result.to_dict()["rows"]
    assert row["check"] == "after 2 steps: 0.weight" and list(row)[0] == "check"


_TENSOR = st.from_regex(r"[a-z_][a-z0-9_]{0,6}(\.[a-z0-9_]{1,6}){0,3}", fullmatch=True)
_KEYS = st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["logits", "aux"])), max_size=2).map(tuple)
_CHECKS = st.one_of(
    _TENSOR.map(Check.before_training), _TENSOR.map(Check.gradient_of), _TENSOR.map(Check.statistics),
    st.builds(Check.after, st.integers(1, 1000), _TENSOR),
    st.just(checks.INPUT_GRAD),
    st.builds(lambda k: checks.TRAIN.at_output(k), _KEYS),
    st.builds(lambda k: checks.PREDICT.at_output(k), _KEYS),
    st.builds(lambda s, k: Probe(scale=s).check.at_output(k), st.sampled_from([10.0, 30.0, 0.5]), _KEYS),
    st.builds(lambda k: Probe(batchnorm=True).check.at_output(k), _KEYS),
    st.builds(Check.predict_at, st.lists(st.integers(1, 300), min_size=1, max_size=3)),
)


@given(_CHECKS, _CHECKS)
def test_distinct_checks_print_distinct_names(a, b):
    """A report row's name identifies its check: two checks print the same name only if they are the same."""
    assert (str(a) == str(b)) == (a == b), (a, b)
