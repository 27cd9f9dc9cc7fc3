"""Every catalog network builds and runs in both frameworks; the course's block examples hold."""
import json
import re

import numpy as np
import pytest

from modern_cnns.parity.catalog import registry
from parity_tests.conftest import REPO, needs_both, needs_gluon, needs_torch, slow_if_large

NAMES = registry.names()
#: the large networks' runs (seconds to tens of seconds each) are slow; the quick loop builds them in both
#: frameworks (test_torch_builds_and_runs, test_parameter_counts_equal), the full suite runs them too
RUN_NAMES = slow_if_large(NAMES)


def test_unknown_name_lists_valid_names():
    with pytest.raises(registry.UnknownNetwork, match="valid names: lenet, lenet_d2l, .*densenet"):
        registry.get("resnet50")


@needs_gluon
@pytest.mark.parametrize("name", RUN_NAMES)
def test_gluon_builds_and_runs(name):
    import mxnet as mx

    entry = registry.get(name)
    net = entry.build_gluon()
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(shape=entry.batch_shape(2))
    assert net(x).shape == (2, entry.num_classes)
    with mx.autograd.record():
        y = net(x)
    y.backward()
    assert y.shape == (2, entry.num_classes)


@needs_torch
@pytest.mark.parametrize("name", NAMES)
def test_torch_builds_and_runs(name):
    import torch

    entry = registry.get(name)
    net = entry.build_torch()
    x = torch.rand(entry.batch_shape(2))
    net(x).sum().backward()
    with torch.no_grad():
        assert net.eval()(x).shape == (2, entry.num_classes)


@needs_both
@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_equal(name):
    from modern_cnns.parity.weights.init import gluon_param_count, initialize_gluon, torch_param_count

    entry = registry.get(name)
    block = initialize_gluon(entry.build_gluon(), entry.batch_shape(1))
    assert gluon_param_count(block) == torch_param_count(entry.build_torch()) > 0


# --- the course's block examples (gluonbook §5.12-5.13), in both frameworks --------------------------------
def course_shapes():
    return json.loads((REPO / "data" / "reference" / "course_shapes.json").read_text())


@needs_gluon
def test_gluon_block_examples():
    from mxnet import nd

    from modern_cnns.gluon_impl.densenet import DenseBlock, transition_block
    from modern_cnns.gluon_impl.resnet import Residual

    ref = course_shapes()
    X = nd.random.uniform(shape=ref["residual"]["input"])
    halving = Residual(num_channels=6, use_1x1conv=True, strides=2)
    for blk, expected in [(Residual(num_channels=3), ref["residual"]["same_shape"]),
                          (halving, ref["residual"]["halved_with_1x1conv"])]:
        blk.initialize()
        assert blk(X).shape == tuple(expected)
    blk = DenseBlock(num_convs=2, num_channels=10)
    blk.initialize()
    Y = blk(nd.random.uniform(shape=ref["dense_block"]["input"]))
    assert Y.shape == tuple(ref["dense_block"]["output"])
    trans = transition_block(num_channels=10)
    trans.initialize()
    assert trans(Y).shape == tuple(ref["transition_block"]["output"])


@needs_torch
def test_torch_block_examples():
    import torch

    from modern_cnns.torch_impl.densenet import DenseBlock, transition_block
    from modern_cnns.torch_impl.resnet import Residual

    ref = course_shapes()
    X = torch.rand(*ref["residual"]["input"])
    assert Residual(num_channels=3, in_channels=3)(X).shape == tuple(ref["residual"]["same_shape"])
    assert Residual(num_channels=6, use_1x1conv=True, strides=2, in_channels=3)(X).shape == \
        tuple(ref["residual"]["halved_with_1x1conv"])
    Y = DenseBlock(2, 10, in_channels=3)(torch.rand(*ref["dense_block"]["input"]))
    assert Y.shape == tuple(ref["dense_block"]["output"])
    assert transition_block(10, in_channels=23)(Y).shape == tuple(ref["transition_block"]["output"])


def _gluonbook_resnet_lines():
    return (REPO / "data" / "reference" / "gluonbook_resnet_shapes.txt").read_text().splitlines()


def _strip_counter(line):
    """'conv52 output shape:\\t (1, 64, 14, 14)' -> 'conv output shape:\\t (1, 64, 14, 14)'"""
    name, rest = line.split(" ", 1)
    return re.sub(r"\d+$", "", name) + " " + rest


@pytest.mark.parametrize("framework", ["gluon", "torch"])
def test_resnet_summary_reproduces_gluonbook(framework):
    from modern_cnns.parity.frameworks import available, missing_reason

    if not available(framework):
        pytest.skip(missing_reason(framework))
    from modern_cnns.parity.catalog.summary import SUMMARIES

    lines = SUMMARIES[framework](registry.get("resnet"))
    expected = _gluonbook_resnet_lines()
    assert len(expected) == 18
    assert [_strip_counter(x) for x in lines] == [_strip_counter(x) for x in expected]


@needs_gluon
def test_gluon_summary_names_start_at_zero_in_fresh_scope():
    from modern_cnns.parity.catalog.summary import gluon_summary

    lines = gluon_summary(registry.get("resnet"))
    assert lines[0] == "conv0 output shape:\t (1, 64, 14, 14)"
    assert lines[-1] == "dense0 output shape:\t (1, 10)"


@pytest.mark.parametrize("framework", ["gluon", "torch"])
def test_densenet_shape_print_is_off_by_default_and_on_behind_flag(framework, capsys):
    from modern_cnns.parity.frameworks import available, missing_reason

    if not available(framework):
        pytest.skip(missing_reason(framework))
    entry = registry.get("densenet")
    if framework == "gluon":
        import mxnet as mx

        quiet, loud = entry.build_gluon(), entry.build_gluon(verbose=True)
        for net in (quiet, loud):
            net.initialize()
        x = mx.nd.zeros((2, 1, 96, 96))
    else:
        import torch

        quiet, loud = entry.build_torch(), entry.build_torch(verbose=True)
        x = torch.zeros(2, 1, 96, 96)
    quiet(x)
    assert capsys.readouterr().out == ""
    loud(x)
    out = capsys.readouterr().out.splitlines()
    # gluonbook §5.13.4's training log at 96x96 (gluonbook's transition widths), with a batch of 2 for 256
    course = (REPO / "data" / "reference" / "gluonbook_densenet_log.txt").read_text().splitlines()
    assert out == [line.strip().replace("(256, ", "(2, ") for line in course]


@needs_both
@pytest.mark.parametrize("name", RUN_NAMES)
def test_mirrored_networks_compute_the_same_prediction(name):
    """With the same weights (moved by name), predictions agree to float64 rounding."""
    import mxnet as mx
    import torch

    from modern_cnns.parity.verdict.pair import Pair, randomize_gluon_state
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    entry = registry.get(name)
    pair = Pair.from_entry(entry)
    block, module = pair.block, pair.module
    randomize_gluon_state(block, seed=1)
    gluon_to_torch(block, module)
    x = np.random.default_rng(2).uniform(size=entry.batch_shape(2))
    expected = block(mx.nd.array(x, dtype="float64")).asnumpy()
    with torch.no_grad():
        got = module.eval()(torch.from_numpy(x)).numpy()
    scale = max(np.abs(expected).max(), 1.0)
    assert np.abs(got - expected).max() <= 1e-12 * scale, (name, np.abs(got - expected).max())


@needs_both
@pytest.mark.parametrize("name,dtype", slow_if_large(NAMES, "float32")
                         + [("bn_lenet_concise_d2l_stock", "float64"), ("resnet", "float64")])
def test_pair_built_unset_then_filled_equals_a_conventional_build(name, dtype):
    """The pair's port skips torch's initialisation (meta device) and is filled by the strict transfer:
    every parameter, buffer (``num_batches_tracked`` too) and tensor attribute (the scratch BatchNorm's
    moving statistics) ends as in a module built the usual way."""
    import torch

    from modern_cnns.parity.verdict.pair import Pair
    from modern_cnns.parity.weights.state import torch_slots
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    entry = registry.get(name)
    pair = Pair.from_entry(entry, dtype)
    usual = entry.build_torch().to(dtype=getattr(torch, dtype))
    gluon_to_torch(pair.block, usual)
    got, expected = pair.module.state_dict(), usual.state_dict()
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and got[key].device == value.device, key
        assert torch.equal(got[key], value), key
    got, expected = torch_slots(pair.module)[0], torch_slots(usual)[0]
    assert list(got) == list(expected)
    for key, slot in expected.items():
        assert got[key].dtype == slot.dtype and np.array_equal(got[key].read(), slot.read()), key
